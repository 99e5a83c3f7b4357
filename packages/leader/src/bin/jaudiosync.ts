#!/usr/bin/env node
// `jaudiosync ctl ...`: a small remote control for the leader's REST API (for a laptop or a
// script). Prints a short summary (or JSON with --json); exits 1 with the error message on failure.
// `jaudiosync keygen ...`: makes or shows the group's shared key (see docs/security.md).
import { readFile } from 'node:fs/promises';
import { runCtl } from '../cli/ctl.js';
import { runKeygen } from '../cli/keygen.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const argv = process.argv.slice(2);
const run = argv[0] === 'keygen'
  ? runKeygen(argv.slice(1), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), readStdin, readFile: (p) => readFile(p, 'utf8') })
  : runCtl(argv, { env: process.env, fetch: globalThis.fetch, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
run.then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`jaudiosync: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
