#!/usr/bin/env node
// `jaudiosync ctl ...`: a small remote control for the leader's REST API (for a laptop or a
// script). Prints a short summary (or JSON with --json); exits 1 with the error message on failure.
import { runCtl } from '../cli/ctl.js';

runCtl(process.argv.slice(2), { env: process.env, fetch: globalThis.fetch, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) })
  .then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`jaudiosync: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
