// From one recording and a run's schedule to each member's delay and a proposal. Every probe is
// searched near its scheduled time; the arrivals are fitted as recordingTime = b * leaderTime +
// c_member with one slope b shared by all members (the recorder's clock runs at its own rate) and
// one intercept per member; member delays are the intercepts' differences. A probe not heard is
// reported, never guessed; a member with no heard probe gets no delay and no proposal.
import type { CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { MAX_OUTPUT_DELAY_MS, MIN_OUTPUT_DELAY_MS } from '@jaudiosync/protocol/rest';
import { ProbeDetector } from './probe-detector.js';
import { probeSamples, probeSpecProblem, type ProbeSpec } from './probe-signal.js';

/**
 * A member's probes farther than this from their common fit mean its playback (or the path after
 * it) moved during the run; half the 1 ms the proposal must reach.
 */
export const MAX_PROBE_DISAGREEMENT_US = 500;

export interface ProbeResult {
  memberId: string;
  atUs: number;
  heard: boolean;
  /** Recording sample of the arrival (NaN when the window was outside the recording). */
  positionSamples: number;
  peakToNoiseDb: number;
  gain: number;
  /** Arrival minus the fit (µs), heard probes only. */
  residualUs?: number;
  /** Heard, but left out: it disagreed with all of its member's other probes, which agree. */
  outlier?: boolean;
}

export interface MemberResult {
  memberId: string;
  probes: number;
  heard: number;
  /** Arrival at the microphone minus the scheduled time (ms); includes the recorder's start error. */
  delayMs?: number;
  /** delayMs minus the smallest delayMs of all members: what the proposal removes. */
  relativeMs?: number;
  /** Acoustic delay after the DAC: delayMs + the member's outputDelayMs during the run. */
  acousticMs?: number;
  /** Smallest peak-to-noise ratio of its heard probes (dB). */
  confidenceDb?: number;
  /** rms of its probes' residuals around the fit (µs): consistency of the figure. */
  spreadUs?: number;
  outputDelayMs: number;
  proposedOutputDelayMs?: number;
  /** Its probes disagree beyond MAX_PROBE_DISAGREEMENT_US: no relative figure, no proposal. */
  inconsistent?: boolean;
  problem?: string;
}

export interface CalibrationReport {
  runId: string;
  members: MemberResult[];
  probes: ProbeResult[];
  /** Recorder clock versus the leader's (ppm), from the fit; 0 when it could not be fitted. */
  recorderRatePpm: number;
}

export interface Recording {
  samples: Float32Array;
  rate: number;
  /** Leader time (µs) of the recording's first sample: an estimate, it sets only the absolute figures. */
  firstSampleLeaderUs: number;
}

export function analyseCalibration(schedule: CalibrationReply, rec: Recording): CalibrationReport {
  const spec: ProbeSpec = { ...schedule.probe };
  const problem = probeSpecProblem(spec);
  if (problem !== null) throw new Error(`calibration schedule: ${problem}`);
  if (rec.rate !== spec.rate) throw new Error(`recording at ${rec.rate} Hz, probe at ${spec.rate} Hz: record at the probe's rate`);
  const detector = new ProbeDetector(probeSamples(spec), rec.rate);
  const probes: ProbeResult[] = schedule.probes.map((p) => {
    const expected = ((p.atUs - rec.firstSampleLeaderUs) / 1e6) * rec.rate;
    const m = detector.find(rec.samples, expected - (schedule.searchBeforeMs / 1000) * rec.rate, expected + (schedule.searchAfterMs / 1000) * rec.rate);
    return m === null
      ? { memberId: p.memberId, atUs: p.atUs, heard: false, positionSamples: Number.NaN, peakToNoiseDb: 0, gain: 0 }
      : { memberId: p.memberId, atUs: p.atUs, heard: m.heard, positionSamples: m.positionSamples, peakToNoiseDb: m.peakToNoiseDb, gain: m.gain };
  });

  // The recorder's rate (recording s per leader s): every pair of one member's probes gives a slope
  // (members' delays cancel within a pair); the median over all pairs, so a probe moved by a
  // playback jump, which spoils the pairs it is in, cannot bend the rate.
  const byMember = new Map<string, ProbeResult[]>();
  for (const p of probes) if (p.heard) (byMember.get(p.memberId) ?? byMember.set(p.memberId, []).get(p.memberId)!).push(p);
  const sOf = (p: ProbeResult): number => (p.atUs - rec.firstSampleLeaderUs) / 1e6;
  const tOf = (p: ProbeResult): number => p.positionSamples / rec.rate;
  const slopes: number[] = [];
  for (const list of byMember.values()) {
    for (let j = 0; j < list.length; j++) {
      for (let k = j + 1; k < list.length; k++) {
        const ds = sOf(list[k]!) - sOf(list[j]!);
        const b = (tOf(list[k]!) - tOf(list[j]!)) / ds;
        // A recorder off by more than 1 % is a wrong sample rate or a moved playback, not a clock.
        if (ds > 0 && Math.abs(b - 1) < 0.01) slopes.push(b);
      }
    }
  }
  const slope = slopes.length > 0 ? median(slopes) : 1;

  const members: MemberResult[] = schedule.members.map((m) => {
    const all = probes.filter((p) => p.memberId === m.memberId);
    const heard = byMember.get(m.memberId) ?? [];
    const out: MemberResult = { memberId: m.memberId, probes: all.length, heard: heard.length, outputDelayMs: m.outputDelayMs };
    if (heard.length === 0) {
      out.problem = all.length === 0 ? 'no probe scheduled' : `none of its ${all.length} probes heard (best ${Math.max(...all.map((p) => p.peakToNoiseDb)).toFixed(1)} dB)`;
      return out;
    }
    let used = heard;
    let c = mean(used.map((p) => tOf(p) - slope * sOf(p)));
    const offset = (p: ProbeResult): number => tOf(p) - slope * sOf(p);
    // With three or more probes, one that disagrees with the others (a playback that jumped during
    // that probe) is left out when all the rest agree: a majority, not a guess.
    if (heard.length >= 3) {
      const mid = median(heard.map(offset));
      const far = heard.reduce((a, b) => (Math.abs(offset(b) - mid) > Math.abs(offset(a) - mid) ? b : a));
      const rest = heard.filter((p) => p !== far);
      const restMid = mean(rest.map(offset));
      if (Math.abs(offset(far) - restMid) * 1e6 > MAX_PROBE_DISAGREEMENT_US
        && rest.every((p) => Math.abs(offset(p) - restMid) * 1e6 <= MAX_PROBE_DISAGREEMENT_US)) {
        used = rest;
        c = restMid;
        far.outlier = true;
      }
    }
    for (const p of heard) p.residualUs = (offset(p) - c) * 1e6;
    out.delayMs = (c / slope) * 1000;
    out.acousticMs = out.delayMs + m.outputDelayMs;
    out.confidenceDb = Math.min(...heard.map((p) => p.peakToNoiseDb));
    out.spreadUs = Math.sqrt(mean(used.map((p) => (p.residualUs ?? 0) ** 2)));
    const problems: string[] = [];
    if (heard.length < all.length) problems.push(`${all.length - heard.length} of ${all.length} probes not heard`);
    const dropped = heard.find((p) => p.outlier === true);
    if (dropped) problems.push(`1 of ${heard.length} probes left out: ${(dropped.residualUs! / 1000).toFixed(2)} ms off the others (its playback moved?)`);
    const worstUs = Math.max(...used.map((p) => Math.abs(p.residualUs ?? 0)));
    if (worstUs > MAX_PROBE_DISAGREEMENT_US) {
      // Which probe is right is unknown: report, never guess.
      problems.push(`its probes disagree by up to ${(worstUs / 1000).toFixed(2)} ms (did its playback move during the run?)`);
      out.inconsistent = true;
    }
    if (problems.length > 0) out.problem = problems.join('; ');
    return out;
  });
  const measured = members.filter((m) => m.delayMs !== undefined && m.inconsistent !== true);
  const earliest = Math.min(...measured.map((m) => m.delayMs!));
  for (const m of measured) {
    m.relativeMs = m.delayMs! - earliest;
    // A later arrival is corrected by playing earlier (outputDelayMs > 0 plays earlier).
    const proposed = Math.round((m.outputDelayMs + m.relativeMs) * 1000) / 1000;
    if (proposed > MAX_OUTPUT_DELAY_MS || proposed < MIN_OUTPUT_DELAY_MS) {
      m.problem = `${m.problem !== undefined ? `${m.problem}; ` : ''}proposal ${proposed.toFixed(1)} ms outside ${MIN_OUTPUT_DELAY_MS}..${MAX_OUTPUT_DELAY_MS} ms`;
    } else {
      m.proposedOutputDelayMs = proposed;
    }
  }
  return { runId: schedule.runId, members, probes, recorderRatePpm: slope === 1 ? 0 : (slope - 1) * 1e6 };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length > 0 ? s / xs.length : Number.NaN;
}
