// docs/configuration.md must list every option the daemons accept (key, flag, env variable), so
// the page cannot silently fall behind the code. Extra rows (planned options) are allowed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = readFileSync(path.join(REPO, 'docs/configuration.md'), 'utf8');

/** The table rows of the section that starts with `heading`. */
function section(heading: string): string {
  const start = DOC.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `docs/configuration.md has no "## ${heading}" section`);
  const end = DOC.indexOf('\n## ', start + 1);
  return DOC.slice(start, end < 0 ? undefined : end);
}

test('every leader option is documented with its flag', async () => {
  const { OPTIONS } = await import('@jaudiosync/leader/leader-config');
  const text = section('Leader');
  for (const o of OPTIONS) {
    if (o.key === 'help') continue;
    assert.ok(text.includes(`\`${o.flag}`), `leader flag ${o.flag} missing in docs/configuration.md`);
    if (o.key !== 'config') assert.ok(text.includes(`| \`${o.key}\` |`), `leader key ${o.key} missing in docs/configuration.md`);
  }
});

test('every member option is documented with its flag and environment variable', async () => {
  const { MEMBER_OPTIONS } = await import('@jaudiosync/member/member-config');
  const text = section('Member') + section('Shared key');
  for (const o of MEMBER_OPTIONS) {
    const row = text.split('\n').find((l) => l.startsWith(`| \`${o.key}\` |`));
    assert.ok(row, `member key ${o.key} missing in docs/configuration.md`);
    assert.ok(row.includes(`\`${o.flag}\``), `member ${o.key}: flag ${o.flag} not in its row`);
    assert.ok(row.includes(`\`${o.env}\``), `member ${o.key}: env ${o.env} not in its row`);
  }
});
