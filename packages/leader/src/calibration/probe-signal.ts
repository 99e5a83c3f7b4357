// The calibration probe: a logarithmic sine sweep, the same samples on the leader (which plays it
// inside the probe track) and in the recorder (which looks for it). A sweep spreads its energy over
// the whole band, so a matched filter finds it far below room noise and places it to a fraction of
// a sample; the log sweep gives the low band (where small speakers are weak) more time.

export interface ProbeSpec {
  /** Sample rate of the probe and of the timeline (the leader's outputRate). */
  rate: number;
  startHz: number;
  endHz: number;
  durationMs: number;
  /** Peak amplitude (linear, full scale 1) before group and member volume. */
  amplitude: number;
  /** Raised-cosine fade at both ends: keeps the sweep from clicking. */
  fadeMs: number;
}

/** 1 s x 16 kHz: a time-bandwidth product of ~16000, i.e. ~42 dB of matched-filter gain. */
export const DEFAULT_PROBE: Omit<ProbeSpec, 'rate'> = {
  startHz: 50, endHz: 16_000, durationMs: 1000, amplitude: 0.5, fadeMs: 10,
};

export const PROBE_LIMITS = { minHz: 20, maxDurationMs: 2000, minDurationMs: 100 } as const;

/** Why a spec cannot be used (it may come from a leader over the network), or null. */
export function probeSpecProblem(s: ProbeSpec): string | null {
  if (!Number.isInteger(s.rate) || s.rate < 8000 || s.rate > 768_000) return 'probe.rate: integer in [8000, 768000] expected';
  if (!(s.startHz >= PROBE_LIMITS.minHz) || !(s.endHz > s.startHz) || !(s.endHz < s.rate / 2)) return 'probe: 20 <= startHz < endHz < rate/2 expected';
  if (!(s.durationMs >= PROBE_LIMITS.minDurationMs && s.durationMs <= PROBE_LIMITS.maxDurationMs)) return `probe.durationMs: ${PROBE_LIMITS.minDurationMs}..${PROBE_LIMITS.maxDurationMs} expected`;
  if (!(s.amplitude > 0 && s.amplitude <= 1)) return 'probe.amplitude: (0, 1] expected';
  if (!(s.fadeMs >= 0 && s.fadeMs * 2 < s.durationMs)) return 'probe.fadeMs: 0 <= fadeMs < durationMs/2 expected';
  return null;
}

export function probeFrames(s: ProbeSpec): number {
  return Math.round((s.durationMs * s.rate) / 1000);
}

/** The probe's samples (mono, float, peak `amplitude`). */
export function probeSamples(s: ProbeSpec): Float32Array {
  const n = probeFrames(s);
  const out = new Float32Array(n);
  const T = n / s.rate;
  const k = Math.log(s.endHz / s.startHz);
  const fade = Math.round((s.fadeMs * s.rate) / 1000);
  for (let i = 0; i < n; i++) {
    const t = i / s.rate;
    // Phase of an exponential sweep: 2π f0 T/k (e^{k t/T} - 1).
    const phase = ((2 * Math.PI * s.startHz * T) / k) * (Math.exp((k * t) / T) - 1);
    let g = s.amplitude;
    if (i < fade) g *= 0.5 - 0.5 * Math.cos((Math.PI * i) / fade);
    else if (i >= n - fade) g *= 0.5 - 0.5 * Math.cos((Math.PI * (n - 1 - i)) / fade);
    out[i] = g * Math.sin(phase);
  }
  return out;
}
