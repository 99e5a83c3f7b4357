// The netsim harness for the benchmarks, through the testkit's package surface
// (`@jaudiosync/testkit/netsim/...`), as the rest of the testkit is reached. Kept as two loaders so
// that callers stay as they are (a benchmark that needs no simulated hosts never calls them).
import * as netsim from '@jaudiosync/testkit/netsim/netsim.js';
import * as childLines from '@jaudiosync/testkit/netsim/child-lines.js';

export type NetsimModule = typeof netsim;
export type ChildLinesModule = typeof childLines;

export async function loadNetsim(): Promise<NetsimModule> {
  return netsim;
}

export async function loadChildLines(): Promise<ChildLinesModule> {
  return childLines;
}
