// The audio threads' scheduling: SCHED_FIFO where permitted (root here), a nice value otherwise,
// never another process's thread, and the engine and capture sink really apply it to their workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { isAvailable } from '@jaudiosync/portaudio';
import {
  currentKernelThreadId,
  describeAudioThreadPriority,
  ENGINE_RT_PRIORITY,
  raiseAudioThreadPriority,
} from '../../src/audio/audio-thread-priority.js';
import { AudioEngine } from '../../src/audio/audio-engine.js';
import { CaptureSink } from '../../src/audio/capture-sink.js';
import { ClockModelShare } from '../../src/clock/clock-model.js';

const privileged = process.getuid?.() === 0 && isAvailable();

/** Kernel scheduling policy (0 = normal, 1 = FIFO) and nice of one of our threads. */
function schedOf(tid: number): { policy: number; nice: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { nice: Number(f[16]), policy: Number(f[38]) };
}

/** A worker thread that reports its tid and then idles until terminated. */
async function idleWorker(): Promise<{ tid: number; stop: () => Promise<number> }> {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads'); const { readlinkSync } = require('node:fs');
     parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop())); setInterval(() => {}, 1000);`,
    { eval: true },
  );
  const tid = await new Promise<number>((resolve) => w.once('message', resolve));
  return { tid, stop: () => w.terminate() };
}

test('the calling thread has a kernel id of this process', () => {
  const tid = currentKernelThreadId();
  assert.ok(tid > 0);
  assert.equal(tid, process.pid, 'the main thread of a process has tid = pid');
});

test('a worker thread gets SCHED_FIFO where permitted, else a reason', { skip: !privileged && 'needs root and the PortAudio addon' }, async () => {
  const w = await idleWorker();
  try {
    const p = raiseAudioThreadPriority(w.tid, ENGINE_RT_PRIORITY);
    assert.equal(p.scheduling, 'fifo', describeAudioThreadPriority(p));
    assert.equal(schedOf(w.tid).policy, 1, 'kernel says SCHED_FIFO');
    assert.equal(schedOf(process.pid).policy, 0, 'the main thread is untouched');
  } finally {
    await w.stop();
  }
});

test('without real-time scheduling the thread gets a lower nice value, or stays and says why', async () => {
  const w = await idleWorker();
  try {
    const p = raiseAudioThreadPriority(w.tid, ENGINE_RT_PRIORITY, { realtime: false, fallbackNice: -5 });
    assert.match(p.error ?? '', /real-time scheduling disabled/);
    if (process.getuid?.() === 0) {
      assert.equal(p.scheduling, 'nice');
      assert.equal(schedOf(w.tid).nice, -5);
    } else {
      assert.ok(p.scheduling === 'nice' || /nice -5/.test(p.error ?? ''), describeAudioThreadPriority(p));
    }
    assert.equal(schedOf(w.tid).policy, 0);
  } finally {
    await w.stop();
  }
});

test('another process\'s thread and bad ids are refused, never touched', () => {
  const other = raiseAudioThreadPriority(1, ENGINE_RT_PRIORITY, { fallbackNice: 0 });
  assert.equal(other.scheduling, 'unchanged');
  assert.match(other.error ?? '', /not a thread of this process/);
  assert.equal(raiseAudioThreadPriority(0, ENGINE_RT_PRIORITY).scheduling, 'unchanged');
  assert.equal(raiseAudioThreadPriority(Number.NaN, ENGINE_RT_PRIORITY).scheduling, 'unchanged');
});

test('the engine worker and the capture sink\'s DAC thread run real-time', { skip: !privileged && 'needs root and the PortAudio addon' }, async () => {
  const sink = new CaptureSink({ sampleRate: 48_000 });
  const engine = new AudioEngine({ sink, clockShare: new ClockModelShare().buffer, outputRate: 48_000 });
  await engine.start();
  try {
    for (const [name, p] of [['engine', engine.threadPriority], ['capture', sink.threadPriority]] as const) {
      assert.ok(p !== null, `${name}: priority known`);
      assert.equal(p.scheduling, 'fifo', `${name}: ${describeAudioThreadPriority(p)}`);
      assert.equal(schedOf(p.tid).policy, 1, `${name}: kernel says SCHED_FIFO`);
    }
  } finally {
    await engine.stop();
  }
});
