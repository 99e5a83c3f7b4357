// The shared run skeleton: flags and usage give the right exit codes, a failing run still brings
// the network down and reports its failure, and a report ends with the same run fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Args } from './args.js';
import { cannotRun, parseOptions, readArgs, RunRecord, withNetwork } from './bench-run.js';

test('readArgs: an unknown flag is exit 2 (logged with the usage), --help exit 0, else the flags', () => {
  const logged: string[] = [];
  const log = (m: string): void => void logged.push(m);
  assert.equal(readArgs(['seconds', 'help'], 'usage: x', log, ['--nope', '1']), 2);
  assert.match(logged[0] ?? '', /unknown option --nope[\s\S]*usage: x/);
  const args = readArgs(['seconds', 'help'], 'usage: x', log, ['--seconds', '5']);
  assert.ok(args instanceof Args);
  assert.equal(args.num('seconds', 1, 1, 10), 5);
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    assert.equal(readArgs(['help'], 'usage: x', log, ['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(parseOptions(() => { throw new Error('--seconds too short'); }, 'usage: x', log), undefined);
  assert.match(logged[1] ?? '', /--seconds too short\nusage: x/);
  assert.equal(cannotRun([undefined, 'no netsim', 'later'], log), true);
  assert.equal(logged[2], 'no netsim');
  assert.equal(cannotRun([undefined], log), false);
});

test('withNetwork: the network goes down on success and on failure; a failure is logged, cleaned up and returned', async () => {
  let downs = 0;
  const net = { down: async () => void downs++ };
  const logged: string[] = [];
  assert.equal(await withNetwork(net, 1000, (m) => logged.push(m), async () => undefined), undefined);
  let cleaned = false;
  const failure = await withNetwork(net, 1000, (m) => logged.push(m), async () => { throw new Error('leader died'); }, async () => { cleaned = true; });
  assert.equal(failure, 'leader died');
  assert.ok(cleaned);
  assert.equal(downs, 2);
  assert.deepEqual(logged, ['FAILED: leader died']);
  // A network that never comes down does not hold the run past the timeout.
  const t0 = Date.now();
  await withNetwork({ down: () => new Promise(() => undefined) }, 50, () => undefined, async () => undefined);
  assert.ok(Date.now() - t0 < 1000);
});

test('RunRecord: host with the load before, date, failure and the command line, in that order', () => {
  const f = new RunRecord('sync', process.cwd()).fields(undefined);
  assert.deepEqual(Object.keys(f), ['host', 'date', 'failure', 'command']);
  assert.equal(f.failure, null);
  assert.equal(f.host.loadavg_before.length, 3);
  assert.match(f.command, /^npm run bench:sync --/);
});
