// The layout of a calibration run: one probe track (silence with probes at fixed frames) played as
// an ordinary timeline, and per member the window in which it alone is unmuted. Pure: the runner
// sends what this computes, the recorder reads the same numbers back from the REST reply.
import type { ProbeSpec } from './probe-signal.js';
import { probeFrames, probeSamples } from './probe-signal.js';

/** Silence before the first probe: the timeline's start fade and the first mute are long done. */
export const LEAD_MS = 600;
/** Arrivals are searched this much before a probe's time (an output delay set too large). */
export const SEARCH_BEFORE_MS = 250;
/** ... and this much after it: Bluetooth speakers add up to ~250 ms, plus distance and slack. */
export const SEARCH_AFTER_MS = 750;
/** Silence between the end of one probe and the start of the next: longer than the search. */
export const GAP_MS = SEARCH_AFTER_MS + 300;
/** A member is unmuted from this long before its first probe (the 30 ms volume ramp is done)... */
export const UNMUTE_BEFORE_MS = 250;
/** ... to this long after the end of its last probe. */
export const MUTE_AFTER_MS = 100;
/** Silence after the last probe (its echoes and the longest acoustic delay). */
export const TAIL_MS = SEARCH_AFTER_MS + 250;

export interface PlannedProbe {
  memberId: string;
  /** Frame of the probe track at which the probe starts. */
  frame: number;
}

/** One probe's turn: only `memberId` is audible. */
export interface MemberWindow {
  memberId: string;
  /** Offsets from the track's start (µs) at which this member's volume goes up, then back to 0. */
  unmuteUs: number;
  muteUs: number;
}

export interface CalibrationPlan {
  probe: ProbeSpec;
  probes: PlannedProbe[];
  windows: MemberWindow[];
  trackFrames: number;
}

/**
 * Round after round, each member in turn plays one probe while the others are muted. Interleaving
 * the members spreads every member's probes over the whole run, so the recorder's clock rate (fitted
 * from each member's own probe spacings) is measured over the longest span.
 */
export function planCalibration(memberIds: readonly string[], rounds: number, probe: ProbeSpec): CalibrationPlan {
  const rate = probe.rate;
  const probeLen = probeFrames(probe);
  const frameOfMs = (ms: number): number => Math.round((ms * rate) / 1000);
  const period = probeLen + frameOfMs(GAP_MS);
  const usOf = (frame: number): number => (frame * 1e6) / rate;
  const probes: PlannedProbe[] = [];
  const windows: MemberWindow[] = [];
  let frame = frameOfMs(LEAD_MS);
  for (let r = 0; r < rounds; r++) {
    for (const memberId of memberIds) {
      probes.push({ memberId, frame });
      windows.push({ memberId, unmuteUs: usOf(frame) - UNMUTE_BEFORE_MS * 1000, muteUs: usOf(frame + probeLen) + MUTE_AFTER_MS * 1000 });
      frame += period;
    }
  }
  const trackFrames = frame - period + probeLen + frameOfMs(TAIL_MS);
  return { probe, probes, windows, trackFrames };
}

/** The probe track as interleaved stereo int16 (both channels equal). */
export function probeTrackPcm(plan: CalibrationPlan): Int16Array {
  const samples = probeSamples(plan.probe);
  const out = new Int16Array(plan.trackFrames * 2);
  for (const p of plan.probes) {
    for (let i = 0; i < samples.length; i++) {
      const v = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767)));
      out[(p.frame + i) * 2] = v;
      out[(p.frame + i) * 2 + 1] = v;
    }
  }
  return out;
}

/** A 16-bit stereo PCM WAV file of `pcm`. */
export function wavBytes(pcm: Int16Array, rate: number): Buffer {
  const data = pcm.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii'); b.writeUInt32LE(36 + data, 4); b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii'); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(2, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 4, 28); b.writeUInt16LE(4, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii'); b.writeUInt32LE(data, 40);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, 44 + i * 2);
  return b;
}
