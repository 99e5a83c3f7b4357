// Short synthetic click tracks for fault tests: every track is a train of short tone bursts whose
// pitch says which track it is, so a capture tells exactly which track and which frame each member
// played when. Writes 16-bit stereo WAVs and an m3u8; computes where every click belongs on the
// timeline (global playlist frame), which the audio checks compare with the captures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wavBytes } from '../../helpers/wav.js';

export const CLICK_RATE = 48000;
/** First click this long after a track starts: clear of the 6 ms start fade. */
export const CLICK_FIRST_MS = 50;
/** Click spacing: dense enough to see any gap, sparse enough that clicks never overlap. */
export const CLICK_PERIOD_MS = 250;
/** Burst length: long enough to count cycles of its tone, short enough to be a sharp event. */
export const CLICK_BURST_MS = 8;
/** Peak amplitude (full scale 1): far above dither and the detector threshold. */
export const CLICK_AMPLITUDE = 0.5;
/** Tone of track k: CLICK_BASE_HZ + k * CLICK_STEP_HZ (k < 8 keeps it well below Nyquist). */
export const CLICK_BASE_HZ = 1200;
export const CLICK_STEP_HZ = 600;
/**
 * A quiet continuous tone under the clicks (-46 dBFS, far below the onset threshold): a member's
 * output is never digital silence while it plays, so the first sound after a restart is visible.
 */
export const BED_AMPLITUDE = 0.005;
export const BED_HZ = 220;

export interface ClickTrack {
  index: number;
  path: string;
  frames: number;
  toneHz: number;
}

export interface ClickPlaylist {
  dir: string;
  m3u8: string;
  tracks: ClickTrack[];
}

export function toneOfTrack(k: number): number {
  return CLICK_BASE_HZ + k * CLICK_STEP_HZ;
}

/** Track index whose tone is nearest `hz` (may be out of range for noise). */
export function trackOfTone(hz: number): number {
  return Math.round((hz - CLICK_BASE_HZ) / CLICK_STEP_HZ);
}

/** Frames (within a track) at which its clicks start. */
export function clickFrames(trackFrames: number): number[] {
  const out: number[] = [];
  const first = Math.round((CLICK_FIRST_MS / 1000) * CLICK_RATE);
  const step = Math.round((CLICK_PERIOD_MS / 1000) * CLICK_RATE);
  const burst = Math.round((CLICK_BURST_MS / 1000) * CLICK_RATE);
  for (let f = first; f + burst < trackFrames; f += step) out.push(f);
  return out;
}

/** 16-bit stereo PCM WAV bytes of one click track. */
export function clickTrackWav(k: number, seconds: number): Buffer {
  const frames = Math.round(seconds * CLICK_RATE);
  const pcm = new Int16Array(frames * 2);
  const hz = toneOfTrack(k);
  const burst = Math.round((CLICK_BURST_MS / 1000) * CLICK_RATE);
  const bed = new Float64Array(frames);
  for (let f = 0; f < frames; f++) bed[f] = BED_AMPLITUDE * Math.sin((2 * Math.PI * BED_HZ * f) / CLICK_RATE);
  for (const f0 of clickFrames(frames)) {
    for (let i = 0; i < burst; i++) {
      // Starts at its peak (cosine phase) so the onset is one frame sharp; decays to 0.
      const env = (1 - i / burst) ** 2;
      bed[f0 + i] = bed[f0 + i]! + CLICK_AMPLITUDE * env * Math.cos((2 * Math.PI * hz * i) / CLICK_RATE);
    }
  }
  for (let f = 0; f < frames; f++) {
    const v = Math.round(bed[f]! * 32767);
    pcm[f * 2] = v;
    pcm[f * 2 + 1] = v;
  }
  return wavBytes(pcm, 2, CLICK_RATE);
}


/** Writes `secondsPerTrack.length` click tracks and `playlist.m3u8` into `dir`. */
export function writeClickPlaylist(dir: string, secondsPerTrack: readonly number[]): ClickPlaylist {
  if (secondsPerTrack.length === 0 || secondsPerTrack.length > 8) throw new RangeError('1..8 click tracks');
  mkdirSync(dir, { recursive: true });
  const tracks: ClickTrack[] = secondsPerTrack.map((s, k) => {
    const path = join(dir, `click-${k + 1}.wav`);
    writeFileSync(path, clickTrackWav(k, s));
    return { index: k, path, frames: Math.round(s * CLICK_RATE), toneHz: toneOfTrack(k) };
  });
  const m3u8 = join(dir, 'playlist.m3u8');
  writeFileSync(m3u8, ['#EXTM3U', ...tracks.flatMap((t) => [`#EXTINF:${Math.round(t.frames / CLICK_RATE)},Click ${t.index + 1}`, `click-${t.index + 1}.wav`])].join('\n') + '\n');
  return { dir, m3u8, tracks };
}

