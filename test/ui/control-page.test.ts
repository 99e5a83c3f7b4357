// The phone control page in headless Chromium against an in-process leader with fake members:
// page delivery (types, CSP, ETag), live status over the event stream, every control posting its
// REST call (checked at the leader and at the members), inline errors, reconnect, the key prompt
// on 401, and the layout at phone width (screenshot kept in test-artifacts/ui/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { generateKey, parseKey, restToken } from '@jaudiosync/protocol/auth';
import { EXAMPLE_PLAYLIST, REPO_ROOT } from '../helpers/cluster.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { startFakeLeader, type FakeLeader } from './fake-leader.js';
import { TINY_PNG, waitFor, withId3 } from '@jaudiosync/test-support';
import type { TitledTrack } from '@jaudiosync/protocol/timeline-message';

// Browser globals used only inside page.evaluate/waitForFunction callbacks, which run in Chromium
// (this project compiles without the DOM lib).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const localStorage: any;
type HTMLElement = any;
type HTMLInputElement = any;

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'ui');
const WAIT_MS = 10_000;

let fake: FakeLeader;
let browser: TestBrowser;
let page: Page;

before(async () => {
  fake = await startFakeLeader({ playlist: EXAMPLE_PLAYLIST, memberIds: ['member1', 'member2'] });
  browser = await launchBrowser();
  page = browser.page;
});
after(async () => {
  await browser?.close();
  await fake?.close();
});

/** Polls a condition in Node (leader or fake member state), bounded. */
async function until(what: string, pred: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  await waitFor(what, pred, timeoutMs, 25);
}

async function text(sel: string): Promise<string> {
  return (await page.locator(sel).first().textContent()) ?? '';
}

async function waitText(sel: string, re: RegExp): Promise<void> {
  await page.waitForFunction(([s, src]) => new RegExp(src as string).test(document.querySelector(s as string)?.textContent ?? ''), [sel, re.source], { timeout: WAIT_MS })
    .catch(async (err: Error) => { throw new Error(`${sel} never matched ${re}: last ${JSON.stringify(await text(sel))} (${err.message.split('\n')[0]})`); });
}

/** Moves a range input like a finger does: input events, then change on release. */
async function slide(sel: string, value: number): Promise<void> {
  await page.locator(sel).evaluate((el, v) => {
    const input = el as HTMLInputElement;
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

const lastRevision = () => fake.leader.controller.timeline.revisions.at(-1)!;
const realProblems = () => browser.problems.filter((p) => !/Failed to load resource/.test(p));

test('page and assets are served with their types, CSP, ETag; nothing else is', async () => {
  const index = await fetch(`${fake.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
  assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]+<\/script>|https?:\/\//, 'no inline script, no external URL');
  const etag = index.headers.get('etag') ?? '';
  assert.notEqual(etag, '');
  const again = await fetch(`${fake.url}/`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  for (const [file, type] of [['app.js', 'text/javascript'], ['style.css', 'text/css'], ['api.js', 'text/javascript'], ['icon.svg', 'image/svg+xml']] as const) {
    const r = await fetch(`${fake.url}/ui/${file}`);
    assert.equal(r.status, 200, file);
    assert.ok((r.headers.get('content-type') ?? '').startsWith(type), `${file}: ${r.headers.get('content-type')}`);
    const body = await r.text();
    assert.doesNotMatch(body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${file} must not reference external URLs`);
  }
  for (const bad of ['/ui/..%2Fui-routes.js', '/ui/nope.js', '/ui/%2e%2e%2f%2e%2e%2fpackage.json', '/ui/index.html.map']) {
    const r = await fetch(`${fake.url}${bad}`);
    assert.equal(r.status, 404, bad);
    assert.equal((await r.json() as { error: string }).error, 'JAS_ERR_NOT_FOUND');
  }
});

test('live status: playlist, leader, members with their sync-health plots', async () => {
  await page.goto(`${fake.url}/`);
  await waitText('#conn', /^live$/);
  await page.waitForFunction(() => document.querySelectorAll('#playlist li').length === 5);
  assert.match(await text('#playlist li:nth-child(1)'), /Metronome Morning/);
  assert.match(await text('#leader-info'), /ui-test-leader/);
  await page.waitForFunction(() => document.querySelectorAll('#members article[data-member]').length === 2);
  await waitText('#members-count', /^2\/2 connected$/);
  // Fake members report 5/s: within ~2 s every plot has a line of several points.
  await page.waitForFunction(() => [...document.querySelectorAll('#members polyline')]
    .every((p) => (p.getAttribute('points') ?? '').split(' ').filter(Boolean).length >= 5), undefined, { timeout: WAIT_MS });
  assert.equal(await page.locator('#members polyline').count(), 10);
  const m1 = page.locator('article[data-member="member1"]');
  assert.match(await m1.locator('.m-health').textContent() ?? '', /^ok$/);
  assert.match(await m1.locator('figure[data-metric="rtt"] b').textContent() ?? '', /\d+ µs$/);
  assert.match(await m1.locator('figure[data-metric="offset"] b').textContent() ?? '', /^p-p \d+(\.\d)? µs$/);
  assert.match(await m1.locator('figure[data-metric="correction"] b').textContent() ?? '', /ppm$/);
  assert.match(await m1.locator('figure[data-metric="sync"] b').textContent() ?? '', /µs$/);
  assert.match(await m1.locator('.m-audio').textContent() ?? '', /capture · drift 3\.2 ppm/);
});

test('transport controls post the REST commands and the page follows the leader', async () => {
  await page.click('#b-play');
  await waitText('#transport-msg', /^play: rev \d+, takes effect at/);
  assert.equal(lastRevision().playing, true);
  await waitText('#now-state', /^playing$/);
  await waitText('#now-index', /^track 1 of 5$/);
  assert.equal(await page.locator('#playlist li[aria-current="true"]').getAttribute('data-index'), '0');

  await page.click('#b-next');
  await waitText('#now-index', /^track 2 of 5$/);
  assert.equal(lastRevision().index, 1);
  await page.click('#b-previous');
  await waitText('#now-index', /^track 1 of 5$/);

  await page.click('#b-fwd10');
  await until('seek revision', () => lastRevision().frame >= 10 * 48000);
  assert.equal(lastRevision().playing, true);

  await page.click('#b-stop');
  await waitText('#now-state', /^stopped$/);
  assert.equal(lastRevision().playing, false);
  const resumeFrame = lastRevision().frame;
  await page.click('#b-resume');
  await waitText('#now-state', /^playing$/);
  assert.ok(Math.abs(lastRevision().frame - resumeFrame) < 48, 'resume continues where stop left off');

  await page.click('#playlist li:nth-child(3) button');
  await waitText('#now-index', /^track 3 of 5$/);
  assert.equal(lastRevision().index, 2);
  await slide('#seek', 5000);
  await until('slider seek', () => lastRevision().index === 2 && lastRevision().frame === 5 * 48000);

  // Scheduled command: the "When" field is sent as `at`.
  await page.fill('#when', '+2s');
  const before = fake.leader.controller.positionNow().atUs;
  await page.click('#b-stop');
  await waitText('#transport-msg', /^stop: rev/);
  const lead = lastRevision().atUs - before;
  assert.ok(lead > 1_500_000 && lead < 3_000_000, `stop scheduled ~2 s ahead (got ${lead} µs)`);
  await page.fill('#when', '');
});

test('order controls: shuffle, reshuffle, repeat, stop-after reach the leader; "Up next" shows the play order', async () => {
  const order = () => fake.leader.controller.orderState();
  const upNext = async () => (await page.locator('#upnext li').allTextContents()).map((t) => t.split(' · ')[0]);
  const leaderUpcoming = async () => {
    const s = await (await fetch(`${fake.url}/api/status`)).json() as { playlist: { title: string }[]; position: { index: number } };
    return s.playlist.slice(s.position.index + 1).map((t) => t.title);
  };
  await page.click('#playlist li:nth-child(1) button');
  await waitText('#now-index', /^track 1 of 5$/);
  await page.waitForFunction(() => document.querySelectorAll('#upnext li').length === 4);
  assert.deepEqual(await upNext(), await leaderUpcoming());

  await page.click('#b-shuffle');
  await until('shuffle on', () => order().shuffle);
  await page.waitForFunction(() => document.querySelector('#b-shuffle').getAttribute('aria-pressed') === 'true', undefined, { timeout: WAIT_MS });
  const seed = order().seed;
  await page.click('#b-reshuffle');
  await until('reshuffled', () => order().seed !== seed);
  // The page lists what the members will play next: the timeline's own order.
  const titles = (fake.leader.controller.timeline.tracks as TitledTrack[]).slice(1).map((t) => t.title);
  await page.waitForFunction((want) => [...document.querySelectorAll('#upnext li')].map((li) => li.textContent.split(' · ')[0]).join('|') === want, titles.join('|'), { timeout: WAIT_MS });
  assert.deepEqual(await leaderUpcoming(), titles);

  await page.selectOption('#repeat', 'one');
  await until('repeat one', () => order().repeat === 'one');
  await page.waitForFunction(() => document.querySelectorAll('#upnext li').length === 1);
  assert.equal((await upNext())[0], (fake.leader.controller.timeline.tracks[0] as TitledTrack).title);
  await page.selectOption('#repeat', 'all');
  await until('repeat all', () => order().repeat === 'all' && fake.leader.controller.timeline.loop);

  await page.click('#b-stop-after');
  await until('stop after', () => order().stopAfter);
  await waitText('#upnext', /stops after this track/);
  assert.equal(lastRevision().playing, false);
  await page.click('#b-stop-after');
  await until('stop after off', () => !order().stopAfter);
  assert.equal(lastRevision().playing, true);

  await page.selectOption('#repeat', 'off');
  await page.click('#b-shuffle');
  await until('shuffle off, repeat off', () => !order().shuffle && order().repeat === 'off');
  await page.click('#b-stop');
  await waitText('#now-state', /^stopped$/);
});

test('group volume and member volume, delay and channel mode reach the leader and the members', async () => {
  await slide('#volume', 40);
  await until('group volume 0.4', () => fake.leader.controller.timeline.volume?.gain === 0.4);
  await waitText('#volume-out', /^40 %$/);

  const m1 = fake.members.find((m) => m.id === 'member1')!;
  const card = 'article[data-member="member1"]';
  await slide(`${card} .m-vol`, 50);
  await until('member1 volume 0.5', () => m1.settings.at(-1)?.volume === 0.5);
  await page.fill(`${card} .m-delay`, '12.5');
  await page.press(`${card} .m-delay`, 'Tab');
  await until('member1 delay 12.5 ms', () => m1.settings.at(-1)?.outputDelayUs === 12_500);
  await page.selectOption(`${card} .m-mode`, 'left');
  await until('member1 left channel', () => m1.settings.at(-1)?.channelMode === 'left');
  const m2 = fake.members.find((m) => m.id === 'member2')!;
  assert.ok(m2.settings.every((s) => s.volume === 1 && s.channelMode === 'stereo'), 'member2 untouched');
  // The page shows what the leader now says.
  await page.waitForFunction(() => (document.querySelector('article[data-member="member1"] .m-vol-out')?.textContent ?? '') === '50 %');
  assert.equal(await page.locator(`${card} .m-mode`).inputValue(), 'left');
});

test('errors from the leader and bad input are shown inline', async () => {
  await page.fill('#when', 'yesterday-ish');
  await page.click('#b-next');
  await waitText('#transport-err', /^JAS_ERR_BAD_TIME: /);
  await page.fill('#when', '+25h');
  await page.click('#b-next');
  await waitText('#transport-err', /^JAS_ERR_TIME_TOO_FAR: /);
  await page.fill('#when', '');
  await page.click('#b-stop');
  await waitText('#transport-msg', /^stop: rev/);
  assert.equal(await text('#transport-err'), '', 'a success clears the error');

  const card = 'article[data-member="member2"]';
  await page.fill(`${card} .m-delay`, '99999');
  await page.press(`${card} .m-delay`, 'Tab');
  await waitText(`${card} .m-err`, /from -1000 to 5000 ms/);

  await page.click('details summary');
  await page.fill('#pl-path', '/nonexistent/list.m3u8');
  await page.click('#b-load');
  await waitText('#pl-err', /^JAS_ERR_[A-Z_]+: /);
});

test('the event stream reconnects after the connection drops', async () => {
  await waitText('#conn', /^live$/);
  const leaderInfo = async () => page.evaluate(() => document.querySelector('article[data-member="member1"] figure[data-metric="offset"] polyline')?.getAttribute('points') ?? '');
  assert.ok(fake.dropEventStreams() >= 1, 'an event stream was open');
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') !== 'live', undefined, { timeout: WAIT_MS, polling: 20 });
  await waitText('#conn', /^live$/);
  const a = await leaderInfo();
  await page.waitForFunction((prev) => (document.querySelector('article[data-member="member1"] figure[data-metric="offset"] polyline')?.getAttribute('points') ?? '') !== prev, a);
});

test('fits a phone: 360 px without sideways scrolling, big targets, labelled controls; screenshot', async () => {
  await page.setViewportSize({ width: 360, height: 740 });
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    smallTargets: [...document.querySelectorAll('button, select, input')]
      .filter((e) => (e as HTMLElement).offsetParent !== null)
      .map((e) => ({ id: e.id || e.className, h: e.getBoundingClientRect().height }))
      .filter((x) => x.h < 44),
    unlabelled: [...document.querySelectorAll('input, select')]
      .filter((e) => (e as HTMLInputElement).labels?.length === 0 && !e.getAttribute('aria-label'))
      .map((e) => e.id || e.className),
    unnamedButtons: [...document.querySelectorAll('button')].filter((b) => !(b.getAttribute('aria-label') ?? b.textContent ?? '').trim()).length,
  }));
  assert.ok(layout.scrollWidth <= 360, `page is ${layout.scrollWidth} px wide at 360`);
  assert.deepEqual(layout.smallTargets, []);
  assert.deepEqual(layout.unlabelled, []);
  assert.equal(layout.unnamedButtons, 0);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#b-play');
  await waitText('#now-state', /^playing$/);
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, 'control-page-fake-members-390x844.png');
  await page.screenshot({ path: file, fullPage: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'control-page-fake-members-390x844-top.png') });
  assert.deepEqual(realProblems(), [], 'no script errors or CSP violations');
});

test('with a key on the leader: the page loads, asks for the REST token, keeps it and sends it', async (t) => {
  const key = parseKey(generateKey());
  const keyed = await startFakeLeader({ playlist: EXAMPLE_PLAYLIST, memberIds: [], key });
  t.after(() => keyed.close());
  const api = await fetch(`${keyed.url}/api/status`);
  assert.equal(api.status, 401, 'the API is guarded');
  await page.goto(`${keyed.url}/`);
  await waitText('#conn', /^key needed$/);
  assert.equal(await page.locator('#auth').isVisible(), true);
  // The shared key itself is refused with the leader's hint, shown in the form.
  await page.fill('#auth-key', key.reveal());
  await page.click('#auth button[type=submit]');
  await waitText('#auth-why', /REST token/);
  await waitText('#conn', /^key needed$/);
  await page.fill('#auth-key', restToken(key));
  await page.click('#auth button[type=submit]');
  await waitText('#conn', /^live$/);
  assert.equal(await page.locator('#auth').isVisible(), false);
  assert.equal(await page.evaluate(() => localStorage.getItem('jaudiosync.restToken')), restToken(key));
  await page.waitForFunction(() => document.querySelectorAll('#playlist li').length === 5);
  // Kept across reloads; commands carry it.
  await page.reload();
  await waitText('#conn', /^live$/);
  assert.equal(await page.locator('#auth').isVisible(), false);
  await page.click('#b-play');
  await waitText('#transport-msg', /^play: rev/);
  assert.equal(keyed.leader.controller.timeline.revisions.at(-1)?.playing, true);
  // A wrong key (changed on the leader, mistyped) brings the prompt back on the next command too.
  await page.evaluate(() => localStorage.setItem('jaudiosync.restToken', 'jasr_wrong'));
  await page.reload();
  await waitText('#conn', /^key needed$/);
  await page.click('#b-stop');
  await waitText('#transport-err', /Key needed/);
  await page.click('#b-forget');
  assert.equal(await page.evaluate(() => localStorage.getItem('jaudiosync.restToken')), null);
  assert.deepEqual(realProblems(), [], 'no script errors or CSP violations');
});

test("what's playing: the cover (fetched with the key), artist and album, the next track, the time left in the playlist", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jas-ui-tags-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mp3 = readFileSync(path.join(REPO_ROOT, 'Music', '02-pluck-parade.mp3'));
  writeFileSync(path.join(dir, 'a.mp3'), withId3(mp3, { title: 'Covered Song', artist: 'Test Ensemble', album: 'Examples', picture: { mime: 'image/png', data: TINY_PNG } }));
  writeFileSync(path.join(dir, 'b.mp3'), withId3(mp3, { title: 'Bare Song' }));
  writeFileSync(path.join(dir, 'tags.m3u8'), '#EXTM3U\na.mp3\nb.mp3\n');
  const key = parseKey(generateKey());
  const tagged = await startFakeLeader({ playlist: path.join(dir, 'tags.m3u8'), memberIds: [], key });
  t.after(() => tagged.close());
  await page.goto(`${tagged.url}/`);
  await page.evaluate((k) => localStorage.setItem('jaudiosync.restToken', k), restToken(key));
  await page.reload();
  await waitText('#conn', /^live$/);
  await page.click('#b-play');
  await waitText('#now-state', /^playing$/);
  await waitText('#now-title', /^Covered Song$/);
  await waitText('#now-artist', /^Test Ensemble · Examples$/);
  await waitText('#now-next', /^Next: Bare Song$/);
  // Two fake 20 s tracks (fake-leader.ts) from the start: about 40 s left, counting down.
  await waitText('#now-left', /^0:(40|3\d) left in the playlist$/);
  await page.waitForFunction(() => {
    const img = document.querySelector('#now-art');
    return img && !img.hidden && img.complete && img.naturalWidth === 1;
  }, undefined, { timeout: WAIT_MS });
  assert.match(await page.locator('#now-art').getAttribute('src') ?? '', /^blob:/);
  assert.equal(await page.locator('#now-art').getAttribute('data-sha'), createHash('sha256').update(TINY_PNG).digest('hex'));
  // The cover is behind the key like the rest of the API.
  const sha = createHash('sha256').update(TINY_PNG).digest('hex');
  assert.equal((await fetch(`${tagged.url}/api/artwork/${sha}`)).status, 401);
  // The next track has no cover: none is shown.
  await page.click('#b-next');
  await waitText('#now-title', /^Bare Song$/);
  await page.waitForFunction(() => document.querySelector('#now-art').hidden === true, undefined, { timeout: WAIT_MS });
  assert.equal(await text('#now-artist'), '');
  await waitText('#now-left', /^0:(20|1\d) left in the playlist$/);
  assert.deepEqual(realProblems(), [], 'no script errors or CSP violations');
});

test("the clock offer: the leader's clock 3 years off is shown beside the phone's, one tap sets it; scheduled times of day ask first", async (t) => {
  const key = parseKey(generateKey());
  const YEARS3_MS = 3 * 365 * 86_400_000;
  const off = await startFakeLeader({ playlist: EXAMPLE_PLAYLIST, memberIds: [], key, wallOffsetMs: -YEARS3_MS });
  t.after(() => off.close());
  await page.goto(`${off.url}/`);
  await page.evaluate((k) => localStorage.setItem('jaudiosync.restToken', k), restToken(key));
  await page.reload();
  await waitText('#conn', /^live$/);
  await waitText('#clock-diff', /^\(leader behind by /);
  assert.equal(await page.locator('#b-clock').isVisible(), true);
  // The leader's day is shown when it is not the phone's.
  assert.match(await text('#clock-leader'), /\d{1,2}:\d{2}:\d{2} \S+/);

  // A command timed by the (wrong) clock is scheduled: the page asks first; "no" leaves the clock.
  const leaderWall = off.leader.wallClock.nowMs();
  off.leader.controller.play({ at: new Date(leaderWall + 600_000).toISOString() });
  const answers = [false, true];
  const asked: string[] = [];
  const onDialog = (d: { message(): string; accept(): Promise<void>; dismiss(): Promise<void> }) => {
    asked.push(d.message());
    void (answers.shift() ? d.accept() : d.dismiss());
  };
  page.on('dialog', onDialog);
  t.after(() => page.off('dialog', onDialog));
  await page.click('#b-clock');
  await waitText('#clock-err', /JAS_ERR_CONFLICT/);
  assert.equal(off.leader.wallClock.source, 'system');
  assert.match(asked[0] ?? '', /time of day/);
  await page.click('#b-clock');
  await waitText('#clock-msg', /^leader clock corrected \(kept by the leader\): moved \+/);
  assert.equal(asked.length, 2);
  assert.equal(off.leader.wallClock.source, 'phone');
  assert.ok(Math.abs(off.leader.wallClock.nowMs() - Date.now()) < 1000, 'the leader now reads the phone time');
  await page.waitForFunction(() => document.querySelector('#b-clock').hidden === true, undefined, { timeout: WAIT_MS });
  await waitText('#clock-diff', /^\(set from a phone\)$/);
  assert.deepEqual(realProblems(), [], 'no script errors or CSP violations');
});

test('without a shared key the clock is shown but not offered (the leader would refuse it)', async (t) => {
  const off = await startFakeLeader({ playlist: EXAMPLE_PLAYLIST, memberIds: [], wallOffsetMs: 5 * 60_000 });
  t.after(() => off.close());
  await page.goto(`${off.url}/`);
  await waitText('#conn', /^live$/);
  await waitText('#clock-diff', /^\(leader ahead by (4:5\d|5:0\d)\)$/);
  assert.equal(await page.locator('#b-clock').isVisible(), false);
  await waitText('#clock-msg', /shared key/);
});
