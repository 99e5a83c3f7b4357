// bench:resampler: quality beside cost of resampler filter designs, so the one the decoder uses is
// chosen deliberately. Quality from each design's own float32 coefficients (filterResponse:
// passband ripple, stopband attenuation, gain at 20 and 22.05 kHz); cost as CPU seconds to
// resample a 5-minute stereo track 44.1k -> 48k through PolyphaseResampler in 4096-frame chunks
// (the decoder's path: the wasm SIMD loop; `js_*` the JS loop, where SIMD is missing), measured on
// --seconds of noise and scaled. Writes JSON (--out).
//
//   node bench/dist/resampler.js [--seconds 60] [--out FILE.json]
import { DEFAULT_FILTER_SPEC, designPolyphaseFilter, filterResponse, PolyphaseResampler, type FilterSpec } from '@jaudiosync/media';
import { ArgError, Args } from './lib/args.js';
import { defaultOutPath, hostInfo, writeJson } from './lib/report-writer.js';

const TRACK_S = 300;
const CHUNK = 4096;

interface Candidate {
  name: string;
  spec: FilterSpec;
  note: string;
}

const CANDIDATES: Candidate[] = [
  { name: 'strict-0.47', spec: { passbandFraction: 0.45, stopbandFraction: 0.47, stopbandDb: 80 },
    note: 'until 2026-12-06: nothing above 20.7 kHz survives, a 0.9 kHz transition band' },
  { name: 'nyquist-0.50', spec: { passbandFraction: 0.45, stopbandFraction: 0.5, stopbandDb: 80 },
    note: 'stopband from the lower Nyquist: no image or alias anywhere' },
  { name: 'audible-0.55-80dB', spec: { ...DEFAULT_FILTER_SPEC, stopbandDb: 80 },
    note: 'nothing lands below the passband edge unattenuated; 19.8-24 kHz may hold folded content' },
  { name: 'audible-0.55-90dB', spec: DEFAULT_FILTER_SPEC, note: 'the default since 2026-12-06: as audible-0.55-80dB with 10 dB more stopband' },
  { name: 'nyquist-0.50-90dB', spec: { passbandFraction: 0.45, stopbandFraction: 0.5, stopbandDb: 90 }, note: 'no image or alias anywhere, 90 dB' },
];

function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  return out;
}

/** CPU seconds (user + system of this process) to resample `seconds` of stereo 44.1k -> 48k. */
function resampleCpuS(spec: FilterSpec, seconds: number, simd = true): number {
  const filter = designPolyphaseFilter(44100, 48000, spec);
  const left = noise(44100 * seconds, 1);
  const right = noise(44100 * seconds, 2);
  const rs = new PolyphaseResampler(44100, 48000, 2, { filter, simd });
  if (simd && !rs.usesSimd) throw new Error('wasm SIMD not available in this node');
  const t0 = process.cpuUsage();
  for (let at = 0; at < left.length; at += CHUNK) rs.push([left.subarray(at, at + CHUNK), right.subarray(at, at + CHUNK)]);
  rs.flush();
  const c = process.cpuUsage(t0);
  return (c.user + c.system) / 1e6;
}

function main(): void {
  let args: Args;
  try {
    args = new Args(process.argv.slice(2), ['seconds', 'out']);
  } catch (e) {
    if (e instanceof ArgError) {
      process.stderr.write(`${e.message}\nusage: resampler [--seconds 60] [--out FILE.json]\n`);
      process.exit(2);
    }
    throw e;
  }
  const seconds = args.num('seconds', 60, 5, 600, true);
  const out = args.optStr('out') ?? defaultOutPath('resampler');
  resampleCpuS(DEFAULT_FILTER_SPEC, 5); // warm up the JIT once
  const designs = CANDIDATES.map((c) => {
    const quality = [[44100, 48000], [48000, 44100]].map(([from, to]) => {
      const f = designPolyphaseFilter(from!, to!, c.spec);
      const r = filterResponse(f);
      return {
        from, to, taps: f.taps, passband_hz: Math.round(f.passbandHz), stopband_hz: Math.round(f.stopbandHz),
        passband_ripple_db: Number(r.passbandRippleDb.toFixed(5)),
        stopband_attenuation_db: Number(r.stopbandAttenuationDb.toFixed(1)),
        gain_db_at_20k: Number(r.gainDbAt(20000).toFixed(2)),
        gain_db_at_22k05: Number(r.gainDbAt(22050).toFixed(2)),
      };
    });
    const perTrack = (resampleCpuS(c.spec, seconds) * TRACK_S) / seconds;
    const jsPerTrack = (resampleCpuS(c.spec, seconds, false) * TRACK_S) / seconds;
    return {
      name: c.name, note: c.note, spec: c.spec, quality,
      resample_cpu_s_per_track: Number(perTrack.toFixed(3)),
      realtime_factor: Number((TRACK_S / perTrack).toFixed(1)),
      js_resample_cpu_s_per_track: Number(jsPerTrack.toFixed(3)),
    };
  });
  const report = { bench: 'resampler', host: hostInfo(), track_s: TRACK_S, measured_s: seconds, default: 'audible-0.55-90dB', designs };
  writeJson(out, report);
  for (const d of designs) {
    const q = d.quality[0]!;
    process.stdout.write(`${d.name}: ${q.taps} taps, ripple ${q.passband_ripple_db} dB, stopband ${q.stopband_attenuation_db} dB, ${d.resample_cpu_s_per_track} s CPU per 5-min track (${d.realtime_factor}x realtime; JS loop ${d.js_resample_cpu_s_per_track} s)\n`);
  }
  process.stdout.write(`wrote ${out}\n`);
}

main();
