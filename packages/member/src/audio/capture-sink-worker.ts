// Worker thread of the capture sink: a simulated DAC. Consumes the PCM ring in device buffers paced
// by host CLOCK_MONOTONIC at the simulated true rate, appends one timing entry per buffer like the
// native addon, and records what "left the DAC" to a capture file on the exact true time axis.
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureFileWriter } from './capture-file.js';
import { DacTimingRing } from './dac-timing-ring.js';
import { PcmRing } from './pcm-ring.js';
import { currentKernelThreadId } from './audio-thread-priority.js';

/** Most buffers consumed in one wake-up before checking the stop flag again (after a long stall). */
const MAX_BUFFERS_PER_WAKE = 1000;
/** Shortest sleep: below this, Atomics.wait costs more than it saves. */
const MIN_SLEEP_MS = 0.5;

/** Control block shared with the main thread (Int32Array indices). */
export const CONTROL_STOP = 0; // main sets 1 + notify to stop
export const CONTROL_BYTES = 16;

/** Marker in workerData, so importing this module in some other worker never starts a DAC loop. */
export const CAPTURE_WORKER_MARKER = 'jas-capture-sink-v1';

export interface CaptureSinkWorkerData {
  readonly marker: typeof CAPTURE_WORKER_MARKER;
  readonly pcmRing: SharedArrayBuffer;
  readonly timingRing: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly ratePpm: number;
  readonly latencyNs: number;
  readonly framesPerBuffer: number;
  readonly file: string | null;
  readonly timingJitterNs: number;
  readonly wakeIntervalMs: number;
}

export type CaptureSinkWorkerMessage =
  | { readonly type: 'started'; readonly tid: number; readonly t0Ns: bigint; readonly t0DacNs: bigint; readonly nsPerFrame: number }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped'; readonly buffers: number; readonly captureBytes: number };

/** Taken once: in a worker, `process` is a global accessor looked up on every use. */
const hrtimeNs = process.hrtime.bigint;

function post(msg: CaptureSinkWorkerMessage): void {
  parentPort?.postMessage(msg);
}

/** Standard normal deviate (Box-Muller); only used for the optional reported-timestamp jitter. */
function gaussian(): number {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

function run(data: CaptureSinkWorkerData): void {
  const ring = new PcmRing(data.pcmRing);
  const timing = new DacTimingRing(data.timingRing);
  const control = new Int32Array(data.control);
  const fpb = data.framesPerBuffer;
  const nsPerFrame = 1e9 / (ring.sampleRate * (1 + data.ratePpm / 1e6));
  const bufferNs = fpb * nsPerFrame;
  const latencyNs = Math.round(data.latencyNs);
  const buffer = new Int16Array(fpb * ring.channels);

  const t0Ns = hrtimeNs();
  const t0DacNs = t0Ns + BigInt(latencyNs);
  let writer: CaptureFileWriter | null = null;
  if (data.file !== null) {
    try {
      writer = new CaptureFileWriter(data.file, {
        sampleRate: ring.sampleRate,
        channels: ring.channels,
        ratePpm: data.ratePpm,
        t0DacNs,
        nsPerFrame,
        latencyNs: BigInt(latencyNs),
        framesPerBuffer: fpb,
      });
    } catch (err) {
      post({ type: 'error', message: `capture file: ${(err as Error).message}` });
    }
  }
  post({ type: 'started', tid: currentKernelThreadId(), t0Ns, t0DacNs, nsPerFrame });

  let next = 0; // index of the next device buffer
  const consume = (): void => {
    const deviceFrame = next * fpb;
    // The entry maps the frames not yet played (a short buffer's silence counts as ring frames
    // before the next one), exactly as the PortAudio addon does: docs/audio-shared-memory.md.
    const ringPos = ring.readPos + ring.read(buffer, fpb) - fpb;
    // Truth is the exact formula, not the jittery wake-up; the jitter option only perturbs the report.
    const offsetNs = Math.round(deviceFrame * nsPerFrame + (data.timingJitterNs > 0 ? gaussian() * data.timingJitterNs : 0));
    timing.append({
      deviceFrame,
      ringPos,
      dacTimeNs: t0DacNs + BigInt(offsetNs),
      callbackTimeNs: hrtimeNs(),
    });
    if (writer !== null) {
      try {
        writer.append(deviceFrame, buffer, fpb);
      } catch (err) {
        post({ type: 'error', message: `capture file: ${(err as Error).message}` });
        try {
          writer.close();
        } catch {
          // already reported; the DAC keeps running without a file
        }
        writer = null;
      }
    }
    next++;
  };

  while (Atomics.load(control, CONTROL_STOP) === 0) {
    const elapsedNs = Number(hrtimeNs() - t0Ns);
    for (let n = 0; n < MAX_BUFFERS_PER_WAKE && next * bufferNs <= elapsedNs; n++) consume();
    const untilNextMs = (next * bufferNs - Number(hrtimeNs() - t0Ns)) / 1e6;
    const sleepMs = Math.min(data.wakeIntervalMs, Math.max(MIN_SLEEP_MS, untilNextMs));
    if (untilNextMs > 0) Atomics.wait(control, CONTROL_STOP, 0, sleepMs);
  }

  let captureBytes = 0;
  if (writer !== null) {
    try {
      writer.close();
      captureBytes = writer.bytesWritten;
    } catch (err) {
      post({ type: 'error', message: `capture file: ${(err as Error).message}` });
    }
  }
  post({ type: 'stopped', buffers: next, captureBytes });
}

const data = workerData as Partial<CaptureSinkWorkerData> | null;
if (parentPort !== null && data !== null && typeof data === 'object' && data.marker === CAPTURE_WORKER_MARKER) {
  try {
    run(data as CaptureSinkWorkerData);
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
  }
}
