// Deterministic synthesizer for the example playlist in Music/: renders each track described in
// tracks.mjs to a 16-bit stereo WAV (drums, plucks, bass, pads on a steady beat, so an offset between
// speakers is audible and measurable by cross-correlation). No dependencies beyond Node itself.
// Usage: node scripts/music/synth.mjs <outDir>   (writes <outDir>/<slug>.wav for every track)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRACKS } from './tracks.mjs';

const HEADROOM_PEAK = 0.89; // normalise each mix to -1 dBFS so lossy encoders do not clip
const FADE_IN_S = 0.005; // avoid a click at the very first sample
const FADE_OUT_S = 1.5; // a gentle ending instead of a hard cut

/** mulberry32: small seeded PRNG, so every render is bit-identical. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const midiHz = (m) => 440 * Math.pow(2, (m - 69) / 12);

/** Equal-power pan: -1 = left, +1 = right. */
function panGains(pan) {
  const a = ((pan + 1) * Math.PI) / 4;
  return [Math.cos(a), Math.sin(a)];
}

class Mix {
  constructor(rate, seconds) {
    this.rate = rate;
    this.frames = Math.round(rate * seconds);
    this.l = new Float64Array(this.frames);
    this.r = new Float64Array(this.frames);
  }
  /** Adds a mono voice rendered by fn(i) for i in [0, len) at time atS with a pan. */
  add(atS, len, pan, gain, fn) {
    const start = Math.round(atS * this.rate);
    const [gl, gr] = panGains(pan);
    for (let i = 0; i < len && start + i < this.frames; i++) {
      const v = fn(i) * gain;
      this.l[start + i] += v * gl;
      this.r[start + i] += v * gr;
    }
  }
}

function kick(mix, atS, gain) {
  const sr = mix.rate;
  const len = Math.round(0.45 * sr);
  let phase = 0;
  mix.add(atS, len, 0, gain, (i) => {
    const t = i / sr;
    const f = 45 + 110 * Math.exp(-t * 28);
    phase += (2 * Math.PI * f) / sr;
    const click = i < sr * 0.002 ? 0.6 * (1 - i / (sr * 0.002)) : 0;
    return Math.sin(phase) * Math.exp(-t * 7) + click;
  });
}

function snare(mix, atS, gain, rnd, pan) {
  const sr = mix.rate;
  const len = Math.round(0.25 * sr);
  let hp = 0;
  let prev = 0;
  mix.add(atS, len, pan, gain, (i) => {
    const t = i / sr;
    const n = rnd() * 2 - 1;
    hp = 0.75 * (hp + n - prev); // one-pole high-pass: crisp, not boomy
    prev = n;
    const body = Math.sin(2 * Math.PI * 185 * t) * Math.exp(-t * 30);
    return hp * Math.exp(-t * 18) * 0.8 + body * 0.5;
  });
}

function hat(mix, atS, gain, rnd, pan, decayS) {
  const sr = mix.rate;
  const len = Math.round(decayS * 4 * sr);
  let prev = 0;
  let prev2 = 0;
  mix.add(atS, len, pan, gain, (i) => {
    const n = rnd() * 2 - 1;
    const v = n - 2 * prev + prev2; // second difference: bright, metallic
    prev2 = prev;
    prev = n;
    return 0.25 * v * Math.exp(-i / (decayS * sr));
  });
}

/** Karplus-Strong plucked string. */
function pluck(mix, atS, midi, gain, rnd, pan, durS) {
  const sr = mix.rate;
  const period = sr / midiHz(midi);
  const n = Math.max(2, Math.floor(period));
  const frac = period - n;
  const ring = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) ring[i] = rnd() * 2 - 1;
  let idx = 0;
  const len = Math.round(durS * sr);
  mix.add(atS, len, pan, gain, (i) => {
    const a = ring[idx];
    const b = ring[(idx + 1) % (n + 1)];
    const out = a + (b - a) * frac;
    ring[idx] = 0.4985 * (a + b);
    idx = (idx + 1) % (n + 1);
    const tail = i > len - sr * 0.02 ? (len - i) / (sr * 0.02) : 1;
    return out * tail;
  });
}

function bass(mix, atS, midi, gain, durS) {
  const sr = mix.rate;
  const f = midiHz(midi);
  const len = Math.round(durS * sr);
  mix.add(atS, len, 0, gain, (i) => {
    const t = i / sr;
    const env = Math.min(1, i / (sr * 0.004)) * Math.exp(-t * 3) * (i > len - sr * 0.01 ? (len - i) / (sr * 0.01) : 1);
    let v = 0;
    for (let h = 1; h <= 5; h++) v += Math.sin(2 * Math.PI * f * h * t) / (h * h);
    return v * env;
  });
}

function pad(mix, atS, midis, gain, durS) {
  const sr = mix.rate;
  const len = Math.round(durS * sr);
  for (const [k, m] of midis.entries()) {
    const f = midiHz(m);
    for (const [side, detune] of [
      [-0.8, 0.997],
      [0.8, 1.003],
    ]) {
      mix.add(atS, len, side * (k % 2 === 0 ? 1 : -1), gain, (i) => {
        const t = i / sr;
        const env = Math.min(1, t / 0.3) * Math.min(1, (len - i) / (sr * 0.4));
        const x = (f * detune * t) % 1;
        return (4 * Math.abs(x - 0.5) - 1) * env; // triangle
      });
    }
  }
}

/** Renders one track description (see tracks.mjs) into a Mix. */
export function render(track) {
  const mix = new Mix(track.rate, track.seconds);
  const rnd = prng(track.seed);
  const beatS = 60 / track.bpm;
  const barS = beatS * 4;
  const bars = Math.floor((track.seconds - FADE_OUT_S) / barS);
  for (let bar = 0; bar < bars; bar++) {
    const t0 = bar * barS;
    const chord = track.chords[bar % track.chords.length];
    if (track.pad) pad(mix, t0, chord.map((m) => m + 12), track.pad, barS);
    for (let step = 0; step < 16; step++) {
      const t = t0 + (step * beatS) / 4;
      const on = (pattern) => pattern[step] === 'x';
      if (on(track.kick)) kick(mix, t, 0.9);
      if (on(track.snare)) snare(mix, t, 0.55, rnd, -0.25);
      if (on(track.hat)) hat(mix, t, step % 4 === 0 ? 0.5 : 0.3, rnd, 0.45, 0.012);
      if (track.bassline[step] !== '.') {
        const deg = Number(track.bassline[step]);
        bass(mix, t, chord[deg % chord.length] - 12, 0.45, beatS / 2);
      }
      if (track.arp[step] !== '.') {
        const deg = Number(track.arp[step]);
        const note = chord[deg % chord.length] + 12 * (1 + Math.floor(deg / chord.length));
        pluck(mix, t, note, 0.35, rnd, step % 2 === 0 ? -0.6 : 0.6, beatS * 1.5);
      }
    }
  }
  finish(mix);
  return mix;
}

function finish(mix) {
  const fadeIn = Math.round(FADE_IN_S * mix.rate);
  const fadeOut = Math.round(FADE_OUT_S * mix.rate);
  let peak = 0;
  for (let i = 0; i < mix.frames; i++) {
    let g = 1;
    if (i < fadeIn) g = i / fadeIn;
    const fromEnd = mix.frames - 1 - i;
    if (fromEnd < fadeOut) g *= fromEnd / fadeOut;
    mix.l[i] *= g;
    mix.r[i] *= g;
    peak = Math.max(peak, Math.abs(mix.l[i]), Math.abs(mix.r[i]));
  }
  const scale = peak > 0 ? HEADROOM_PEAK / peak : 1;
  for (let i = 0; i < mix.frames; i++) {
    mix.l[i] *= scale;
    mix.r[i] *= scale;
  }
}

/** RIFF LIST/INFO chunk carrying title and artist (so players and probes show them). */
function infoChunk(tags) {
  const parts = [];
  for (const [id, text] of Object.entries(tags)) {
    const body = Buffer.from(`${text}\0`, 'latin1');
    const padded = Buffer.alloc(body.length + (body.length % 2));
    body.copy(padded);
    const head = Buffer.alloc(8);
    head.write(id, 0, 'ascii');
    head.writeUInt32LE(body.length, 4);
    parts.push(head, padded);
  }
  const payload = Buffer.concat([Buffer.from('INFO', 'ascii'), ...parts]);
  const head = Buffer.alloc(8);
  head.write('LIST', 0, 'ascii');
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

/** 16-bit PCM WAV with rounding and clipping; tags = {INAM: title, IART: artist, ...}. */
export function wavBytes(mix, tags = {}) {
  const data = Buffer.alloc(mix.frames * 4);
  const q = (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
  for (let i = 0; i < mix.frames; i++) {
    data.writeInt16LE(q(mix.l[i]), i * 4);
    data.writeInt16LE(q(mix.r[i]), i * 4 + 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(2, 22);
  h.writeUInt32LE(mix.rate, 24);
  h.writeUInt32LE(mix.rate * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  const info = Object.keys(tags).length > 0 ? infoChunk(tags) : Buffer.alloc(0);
  h.writeUInt32LE(36 + info.length + data.length, 4);
  // LIST goes between fmt and data: RIFF order readers expect.
  return Buffer.concat([h.subarray(0, 36), info, h.subarray(36), data]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outDir = process.argv[2];
  if (!outDir) {
    console.error('usage: node synth.mjs <outDir>');
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  for (const track of TRACKS) {
    writeFileSync(join(outDir, `${track.slug}.wav`), wavBytes(render(track)));
    console.log(`synth: ${track.slug}.wav ${track.seconds} s @ ${track.rate} Hz`);
  }
}
