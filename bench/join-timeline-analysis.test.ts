import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinTimeline } from './join-timeline-analysis.js';

test('join timeline: the member\'s events after its spawn, in ms since it, and the leader\'s mDNS find', () => {
  const playAtUs = 1_000_000_000_000; // wall ms 1e9
  const spawnMs = 1e9 + 20_000;
  const line = (t: number, msg: string, extra = '') => `{"level":30,"time":${t},"member":"member2"${extra},"msg":"${msg}"}`;
  const memberLog = [
    line(spawnMs - 30_000, 'leader connected'), // an earlier life: ignored
    line(spawnMs + 400, 'memory allocator tuned'),
    line(spawnMs + 410, 'member listening'),
    line(spawnMs + 600, 'audio threads real-time'),
    line(spawnMs + 1200, 'mDNS: advertising'),
    line(spawnMs + 1210, 'leader connected'),
    line(spawnMs + 1700, 'clock synced', ',"samples":80'),
    'not json',
  ].join('\n');
  const leaderLog = `{"level":30,"time":${spawnMs + 1205},"key":"mdns:member2","msg":"member found"}\n{"level":30,"time":${spawnMs + 1205},"key":"mdns:member1","msg":"member found"}`;
  const t = joinTimeline({ member: 'member2', kind: 'late', spawn_s: 20, first_audio_s: 2.1, join_s: 2.15 }, playAtUs, memberLog, leaderLog);
  assert.equal(t['first log line (node up)'], 400);
  assert.equal(t['listening'], 410);
  assert.equal(t['engine up'], 600);
  assert.equal(t['leader connected'], 1210);
  assert.equal(t['clock synced'], 1700);
  assert.equal(t['NTP socket up'], null);
  assert.equal(t['leader: member found (mDNS)'], 1205);
  assert.equal(t['first audio'], 2100);
  assert.equal(t['in sync'], 2150);
});

test('join timeline: a line the member kept until its logger was up counts at its writtenAt; the engine\'s start-up lines', () => {
  const playAtUs = 1_000_000_000_000;
  const spawnMs = 1e9 + 20_000;
  const memberLog = [
    `{"level":30,"time":${spawnMs + 500},"writtenAt":${spawnMs + 90},"msg":"memory allocator tuned"}`,
    `{"level":30,"time":${spawnMs + 700},"component":"engine","msg":"DAC clock locked, 505 ms after the sink's first buffer"}`,
    `{"level":30,"time":${spawnMs + 705},"component":"engine","msg":"first audio placed, 40 ms ahead of the sink"}`,
  ].join('\n');
  const t = joinTimeline({ member: 'member1', kind: 'restart', spawn_s: 20 }, playAtUs, memberLog, '');
  assert.equal(t['first log line (node up)'], 90);
  assert.equal(t['DAC clock locked'], 700);
  assert.equal(t['first audio placed'], 705);
});
