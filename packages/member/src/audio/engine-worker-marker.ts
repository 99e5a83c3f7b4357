// Marks the engine worker's workerData. Its own module: the main thread needs the value, and
// importing engine-worker.ts for it loaded the whole rendering graph (scheduler, DAC clock,
// resampler) into the main thread before the audio output could start (issue #18).
export const ENGINE_WORKER_MARKER = 'jaudiosync-engine-worker';
