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
//
// --max-semi-space-size=1: V8 grows an isolate's young generation to two semi-spaces of up to
// 16 MB while it allocates fast, and shrinks it only at some full collections. The member's main
// thread did so at start-up (module loading) and in every track download (socket chunks): its
// heap 28 MB for 10-12 MB used, 19-21 MB resident, right at the member's memory peak (bench:sync
// --long-tracks; issue #18, docs/benchmarks.md). With 1 MB semi-spaces it stays at 12-14 MB; a
// scavenge then runs every ~1 MB of garbage, each well under a millisecond. The workers get the same
// bound (the clock and decoder workers set theirs explicitly); the engine allocates so little per
// tick that its young generation stays at V8's initial 1 MB semi-spaces either way.
export const MEMBER_NODE_FLAGS: readonly string[] = ['--single-threaded', '--max-semi-space-size=1'];

/** Flags of MEMBER_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return MEMBER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
