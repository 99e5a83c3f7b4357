// The Node/V8 options the leader daemon runs with. Every launcher passes them: the systemd unit,
// scripts/install's wrapper, the bin's shebang, the test and bench launchers.
//
// --max-semi-space-size=1: V8's young generation is two semi-spaces of up to 16 MB each by default,
// per isolate (the main thread and the NTP worker). The leader allocates little per second (state
// reports, pings), so those pages were mostly empty but resident: 32 MB of the main isolate's 52 MB
// heap with 100 light members (bench:fanout, docs/reliability.md). With 1 MB semi-spaces a scavenge
// runs every ~1 MB of garbage instead of every ~16 MB; at the leader's rate that is a few per second
// at most, each well under a millisecond.
//
// --heap-growing-percent=20: after each full collection V8 sets the next one at max(live x factor,
// live + 8 MB), with a factor it picks between 1.1 and 4 from GC and mutator speeds. The leader's
// old generation grows slowly (~0.1 MB/s of pongs and state reports that outlived a scavenge) and
// carries the ArrayBuffers of the track uploads once they are promoted: with a large factor a full
// collection came once every few minutes, and the garbage of the last upload burst (up to 20 MB
// of 64 KB read buffers) and of the minutes since was resident in between. 1.2 leaves the 8 MB step
// in charge at the leader's ~16 MB of live heap: a full collection every ~30 s at 100 members,
// incremental and concurrent like any other (loop delay and CPU unchanged within the noise), and
// steady RSS 118 -> 97 MB (100 light members on loopback; docs/benchmarks.md, "Fanout").
export const LEADER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--heap-growing-percent=20'];

/** Flags of LEADER_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return LEADER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
