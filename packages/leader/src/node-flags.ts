// The Node/V8 options the leader daemon runs with. Every launcher passes them: the systemd unit,
// scripts/install's wrapper, the bin's shebang, the test and bench launchers.
//
// --max-semi-space-size=1: V8's young generation is two semi-spaces of up to 16 MB each by default,
// per isolate (the main thread and the NTP worker). The leader allocates little per second (state
// reports, pings), so those pages were mostly empty but resident: 32 MB of the main isolate's 52 MB
// heap with 100 light members (bench:fanout, docs/reliability.md). With 1 MB semi-spaces a scavenge
// runs every ~1 MB of garbage instead of every ~16 MB; at the leader's rate that is a few per second
// at most, each well under a millisecond.
export const LEADER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** Flags of LEADER_NODE_FLAGS this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return LEADER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
