// docs/architecture.md must name every source file of every package, by its path, by a folder row
// above it (`packages/x/src/audio/`, `packages/x/`), or in a row that names its folder and it
// (`packages/member/src/clock/midpoint-fit.ts`, `weighted-line.ts`; `ntp-server*.ts`; `bin/`), and
// the repository's other top-level folders. A file added without a row fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = readFileSync(path.join(REPO, 'docs/architecture.md'), 'utf8');
const ROWS = DOC.split('\n').filter((l) => l.startsWith('|'));
const TOP_LEVEL = ['bench/', 'test/e2e/', 'test/faults/', 'test/ui/', 'test/install/', 'test/helpers/', 'test/netsim/', 'scripts/', 'systemd/', 'Music/'];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(path.join(REPO, dir))) {
    const rel = `${dir}/${e}`;
    if (statSync(path.join(REPO, rel)).isDirectory()) sourceFiles(rel, out);
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A `*` in a backticked name matches any characters (`ntp-server*.ts`). */
function namedIn(row: string, name: string): boolean {
  for (const m of row.matchAll(/`([^`]+)`/g)) {
    const pattern = m[1]!;
    if (pattern === name) return true;
    if (pattern.includes('*') && new RegExp(`^${pattern.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(name)) return true;
  }
  return false;
}

export function documented(file: string): boolean {
  if (DOC.includes(file) || ROWS.some((r) => namedIn(r, file))) return true;
  const parts = file.split('/');
  // A folder row above it: `packages/x/src/audio/`, `packages/x/src/`, `packages/x/`.
  for (let k = parts.length - 1; k >= 2; k--) if (DOC.includes(`\`${parts.slice(0, k).join('/')}/\``)) return true;
  // A row naming a folder above it and the file, or the subfolder it is in (`bin/`).
  for (let k = parts.length - 1; k >= 2; k--) {
    const folder = `${parts.slice(0, k).join('/')}/`;
    const rest = parts.slice(k);
    const rows = ROWS.filter((r) => r.includes(folder));
    if (rows.some((r) => namedIn(r, rest.join('/')) || (rest.length > 1 && namedIn(r, `${rest[0]}/`)))) return true;
  }
  return false;
}

test('docs/architecture.md names every package source file and every top-level folder', () => {
  const packages = readdirSync(path.join(REPO, 'packages')).filter((p) => statSync(path.join(REPO, 'packages', p, 'src')).isDirectory());
  assert.ok(packages.length >= 7, `packages: ${packages.join(', ')}`);
  const files = packages.flatMap((p) => sourceFiles(`packages/${p}/src`));
  const missing = files.filter((f) => !documented(f));
  assert.deepEqual(missing, [], `add a row to docs/architecture.md for: ${missing.join(', ')}`);
  const folders = TOP_LEVEL.filter((f) => !DOC.includes(`\`${f}\``));
  assert.deepEqual(folders, [], `add a row to docs/architecture.md for: ${folders.join(', ')}`);
});

test('the rule finds a file without a row', () => {
  assert.equal(documented('packages/member/src/audio/no-such-file-yet.ts'), true, 'covered by the audio/ folder row');
  assert.equal(documented('packages/member/src/clock/no-such-file-yet.ts'), false);
  assert.equal(documented('packages/leader/src/no-such-file-yet.ts'), false);
});
