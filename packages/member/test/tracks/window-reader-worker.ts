// Test worker: plays a TrackWindow like the engine does (sequential reads at a fixed speed) and
// reports frames that held another frame's samples (must never happen) and silent frames.
import { parentPort, workerData } from 'node:worker_threads';
import { TrackWindow } from '../../src/audio/track-window.js';

const { buffer, frames, chunk, chunkIntervalMs } = workerData as { buffer: SharedArrayBuffer; frames: number; chunk: number; chunkIntervalMs: number };
const w = TrackWindow.attach(buffer);
if (typeof w === 'string') throw new Error(w);
const out = new Float32Array(2 * chunk);
let garbage = 0;
let silent = 0;
let firstSound = -1;
let silentAfterSound = 0;
let pos = 0;
const expected = (f: number, c: number): number => ((f * 7 + c * 3) % 30000) + 1;
const timer = setInterval(() => {
  const n = Math.min(chunk, frames - pos);
  w.read(pos, n, out, 0);
  for (let i = 0; i < n; i++) {
    const l = Math.round(out[2 * i]! * 32768);
    const r = Math.round(out[2 * i + 1]! * 32768);
    if (l === 0 && r === 0) {
      silent++;
      if (firstSound >= 0) silentAfterSound++;
    } else if (l !== expected(pos + i, 0) || r !== expected(pos + i, 1)) garbage++;
    else if (firstSound < 0) firstSound = pos + i;
  }
  pos += n;
  if (pos >= frames) {
    clearInterval(timer);
    parentPort!.postMessage({ garbage, silent, firstSound, silentAfterSound });
  }
}, chunkIntervalMs);
