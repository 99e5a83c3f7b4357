// The Node/V8 options the member daemon runs with. Every launcher passes them: the systemd unit,
// scripts/install's wrapper, the bin's shebang, the test and bench launchers.
//
// --single-threaded: V8 does all its work for an isolate on that isolate's own thread (no helper
// threads for GC, compilation or unmapping). The engine worker is SCHED_FIFO, but by default its
// collections and compile jobs go through V8's shared pool of helper threads and their task
// queues, which run at normal priority; the engine then waits for a preempted helper, or for a lock
// another normal thread holds. Measured beside a browser on 2 cores (test/ui/control-page-capture):
// without the flag, stalls over 20 ms in 6 of 10 runs (up to 255 ms), the 120 ms PCM ring ran dry and
// the music started late in 2 of 15; with it, such stalls in 2 of 18 runs (62 ms the longest) and no
// late start in 28. The cost: the main and decoder threads compile and collect on their own time,
// which is not real-time. docs/audio-engine.md, "Thread priorities".
export const MEMBER_NODE_FLAGS: readonly string[] = ['--single-threaded'];

/** Flags of MEMBER_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return MEMBER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
