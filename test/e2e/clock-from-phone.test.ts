// The right time without RTC or internet, on real daemons: a leader whose wall clock is three years
// and 2 h 17 min behind (libfaketime; CLOCK_MONOTONIC left true, as after a boot without RTC) takes
// the phone's time (PUT /api/clock; "the phone's clock" is this process's real clock), and then
// `"at": "HH:MM:SS"` a few seconds ahead plays at that time by the phone's clock: the first click
// of the track is captured on the member then. The leader timescale does not step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKey, parseKey, restToken } from '@jaudiosync/protocol/auth';
import { readCapture } from '@jaudiosync/member/capture-file';
import { Cluster, EXAMPLE_PLAYLIST, memberBinSkip, REPO_ROOT, sleep } from '../helpers/cluster.js';
import { DEFAULT_ONSET_THRESHOLD, findOnset } from '../helpers/capture-analysis.js';
import { wavOnsetS } from '../helpers/wav.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** 3 years (1095 days) and 2 h 17 min: a time of day read by the wrong clock would be 2 h 17 min off. */
const LEADER_BEHIND_S = 1095 * 86_400 + 2 * 3600 + 17 * 60;
/** The phone's time reaches the leader one request late (ms): the bound unless that request took longer. */
const ONSET_TOLERANCE_MS = 20;
/** Members fade in linearly over this from a revision's atUs (docs/audio-engine.md). */
const START_FADE_S = 0.006;

/** Host CLOCK_MONOTONIC (ns) at real wall time `wallMs`, from this process's two clocks read together. */
function monoNsAtWallMs(wallMs: number): number {
  let best = { spread: Infinity, offsetNs: 0 };
  for (let i = 0; i < 20; i++) {
    const m1 = process.hrtime.bigint();
    const w = Date.now();
    const m2 = process.hrtime.bigint();
    const spread = Number(m2 - m1);
    // Date.now() is whole ms: its reading lies in [w, w + 1) ms.
    if (spread < best.spread) best = { spread, offsetNs: Number(m1 + (m2 - m1) / 2n) - (w + 0.5) * 1e6 };
  }
  return wallMs * 1e6 + best.offsetNs;
}

test('a leader 3 years off takes the phone time; "HH:MM:SS" then plays at that time by the phone clock', {
  skip: memberBinSkip() || (existsSync(FAKETIME_LIB) ? false : `libfaketime not installed (${FAKETIME_LIB}; Debian package faketime)`),
  timeout: 240_000,
}, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'jas-clock-phone-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyText = generateKey();
  const cluster = await Cluster.start({
    dir, playlist: EXAMPLE_PLAYLIST,
    members: [{ id: 'member1', dacPpm: 30 }],
    env: { JAS_KEY: keyText },
    leaderEnv: { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `-${LEADER_BEHIND_S}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    token: restToken(parseKey(keyText)),
  });
  t.after(() => cluster.stop());
  const ready = await cluster.waitFor((s) => s.playlist.length > 0 && s.members.every((m) => m.clock?.synced === true && m.ready === s.playlist.length),
    120_000, 'member synced with every track ready');
  const leader = ready.leader as { wallMs?: number; clockSource?: string; clockSettable?: boolean };
  const behindS = (Date.now() - (leader.wallMs ?? NaN)) / 1000;
  assert.ok(Math.abs(behindS - LEADER_BEHIND_S) < 5, `the leader's wall clock is ${behindS} s behind`);
  assert.equal(leader.clockSettable, true);

  // The timescale before the clock is set, against this host's monotonic clock.
  const ts1 = { mono: Number(process.hrtime.bigint()), leaderUs: (await cluster.status()).leader.nowUs };
  const sentNs = process.hrtime.bigint();
  const set = await cluster.api<{ method: string; stepMs: number; wallMs: number }>('PUT', '/api/clock', { wallMs: Date.now() });
  const putRttMs = Number(process.hrtime.bigint() - sentNs) / 1e6;
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.method, 'offset', 'no --set-system-clock here: an offset');
  t.diagnostic(`clock set: ${JSON.stringify(set.body)}`);
  const s2 = await cluster.status();
  const ts2 = { mono: Number(process.hrtime.bigint()), leaderUs: s2.leader.nowUs };
  const timescaleStepMs = ((ts2.leaderUs - ts1.leaderUs) - (ts2.mono - ts1.mono) / 1000) / 1000;
  assert.ok(Math.abs(timescaleStepMs) < 50, `the leader timescale did not step (${timescaleStepMs.toFixed(1)} ms)`);
  assert.ok(Math.abs(((s2.leader as { wallMs?: number }).wallMs ?? 0) - Date.now()) < 1000, 'the leader reads the phone time');

  // A time of day 6 s ahead by the phone's (this process's) clock, in the leader's zone (the same).
  const targetMs = Math.ceil((Date.now() + 6000) / 1000) * 1000;
  const d = new Date(targetMs);
  const hhmmss = [d.getHours(), d.getMinutes(), d.getSeconds()].map((v) => String(v).padStart(2, '0')).join(':');
  const play = await cluster.api<{ atUs: number; at: string }>('POST', '/api/play', { at: hhmmss, index: 0, positionMs: 0 });
  assert.equal(play.status, 200, JSON.stringify(play.body));
  t.diagnostic(`play at ${hhmmss}: reply at ${play.body.at}`);
  assert.ok(Math.abs(Date.parse(play.body.at) - targetMs) < 50, `the leader names the phone's time (${play.body.at})`);

  const clickS = wavOnsetS(path.join(REPO_ROOT, 'Music', '01-metronome-morning.wav'), DEFAULT_ONSET_THRESHOLD, START_FADE_S);
  const expectedNs = monoNsAtWallMs(targetMs) + clickS * 1e9;
  await sleep(Math.max(0, (expectedNs - Number(process.hrtime.bigint())) / 1e6) + 2500);
  const cap = readCapture(cluster.capturePath('member1'));
  const onsetNs = findOnset(cap, expectedNs - 1e9);
  assert.ok(onsetNs !== null, 'no onset in the capture');
  const errMs = (onsetNs - expectedNs) / 1e6;
  t.diagnostic(`first click ${errMs.toFixed(3)} ms after ${hhmmss} by the phone's clock (+ ${clickS.toFixed(4)} s into the track); PUT /api/clock took ${putRttMs.toFixed(1)} ms`);
  // The leader takes the phone's time when the request arrives: late by at most that request's
  // time (a loaded machine makes it longer), never early beyond the onset detection's jitter.
  assert.ok(errMs > -2 && errMs < Math.max(ONSET_TOLERANCE_MS, putRttMs + 5), `first click ${errMs.toFixed(3)} ms from the phone's ${hhmmss} (request ${putRttMs.toFixed(1)} ms)`);
});
