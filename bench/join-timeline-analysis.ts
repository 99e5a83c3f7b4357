// Pure part of bench/join-timeline: a member's start-up events from its log and the leader's, in ms
// since the member's process was spawned. The spawn's wall time comes from the report: the leader
// timescale is anchored to the wall clock (docs/clock.md), so the play revision's atUs is wall µs,
// and `spawn_s` is the spawn relative to it. Logs carry pino's wall ms: ±1 ms.

export interface TimelineInstance {
  member: string;
  kind: 'initial' | 'late' | 'restart';
  spawn_s: number;
  end_s?: number;
  first_audio_s?: number | null;
  join_s?: number | null;
  rejoin_s?: number | null;
}

/** Member log messages that mark a start-up step (first occurrence after the spawn). */
const MEMBER_EVENTS: Array<[name: string, match: (msg: string) => boolean]> = [
  ['first log line (node up)', () => true],
  ['listening', (m) => m === 'member listening'],
  ['engine up', (m) => m === 'audio threads real-time' || m.startsWith('audio threads without real-time')],
  ['DAC clock locked', (m) => m.startsWith('DAC clock locked')],
  ['first audio placed', (m) => m.startsWith('first audio placed')],
  ['mDNS announced', (m) => m === 'mDNS: advertising'],
  ['leader connected', (m) => m === 'leader connected'],
  ['welcomed', (m) => m === 'welcomed by leader'],
  ['NTP socket up', (m) => m.startsWith('NTP exchanges timed')],
  ['clock synced', (m) => m === 'clock synced' || m.startsWith('clock synced at once')],
  ['track to engine', (m) => m === 'track handed to the engine'],
];

interface LogLine {
  time: number;
  msg: string;
  raw: string;
}

function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o['time'] === 'number' && typeof o['msg'] === 'string') {
        // A line kept until the logger was up (the member's DeferredLog) carries when it was written.
        const time = typeof o['writtenAt'] === 'number' ? o['writtenAt'] : o['time'];
        out.push({ time, msg: o['msg'], raw: line });
      }
    } catch {
      // not a log line (a crash trace): skip
    }
  }
  return out;
}

/** Events in ms since the spawn, in the order of MEMBER_EVENTS, then the bench's own measurements. */
export function joinTimeline(inst: TimelineInstance, playAtUs: number, memberLog: string, leaderLog: string): Record<string, number | null> {
  const spawnMs = playAtUs / 1000 + inst.spawn_s * 1000;
  const endMs = inst.end_s === undefined ? Infinity : playAtUs / 1000 + inst.end_s * 1000;
  const mine = parseLines(memberLog).filter((l) => l.time >= spawnMs - 5 && l.time <= endMs);
  const out: Record<string, number | null> = {};
  const rel = (t: number) => Math.round(t - spawnMs);
  for (const [name, match] of MEMBER_EVENTS) {
    const hit = mine.find((l) => match(l.msg));
    out[name] = hit === undefined ? null : rel(hit.time);
  }
  const leader = parseLines(leaderLog).filter((l) => l.time >= spawnMs - 5 && l.time <= endMs);
  const found = leader.find((l) => l.msg === 'member found' && l.raw.includes(`"mdns:${inst.member}"`));
  out['leader: member found (mDNS)'] = found === undefined ? null : rel(found.time);
  const ms = (s: number | null | undefined) => (s === null || s === undefined ? null : Math.round(s * 1000));
  out['first audio'] = ms(inst.first_audio_s);
  out['in sync'] = ms(inst.kind === 'late' ? inst.join_s : inst.rejoin_s);
  return out;
}
