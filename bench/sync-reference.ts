// The schedule as audio: the playlist decoded exactly as members decode it (@jaudiosync/media), laid
// on the true time axis where the leader's revision says it plays. measureOffset(reference, capture)
// is then each member's offset against the timeline itself, at every window, not only at onsets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeToPcm } from '@jaudiosync/media';
import type { CaptureView } from '@jaudiosync/testkit/helpers/capture-analysis.js';
import { hostMonoNsAtLeaderUs, type LeaderAnchor } from '@jaudiosync/testkit/helpers/cluster.js';

export interface DecodedPlaylist {
  files: string[];
  /** interleaved stereo int16 per track at outputRate */
  tracks: Int16Array[];
  frames: number[];
  outputRate: number;
}

/** Track paths of an m3u/m3u8 playlist (relative entries resolve against its directory). */
export function playlistFiles(playlist: string): string[] {
  const dir = path.dirname(playlist);
  return readFileSync(playlist, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => path.resolve(dir, l));
}

export async function decodePlaylist(playlist: string, outputRate = 48_000): Promise<DecodedPlaylist> {
  const files = playlistFiles(playlist);
  const tracks: Int16Array[] = [];
  const frames: number[] = [];
  for (const f of files) {
    const d = await decodeToPcm(f, { outputRate });
    tracks.push(d.pcm);
    frames.push(d.frames);
  }
  return { files, tracks, frames, outputRate };
}

/**
 * A CaptureView whose device frame g is global playlist frame g (track k+1 frame 0 follows the
 * last frame of k), played at the nominal rate of the leader timescale from the revision on.
 */
export class ScheduleReference implements CaptureView {
  readonly sampleRate: number;
  readonly nsPerFrame: number;
  readonly firstFrame: number;
  readonly endFrame: number;
  private readonly t0Ns: number;
  private readonly starts: number[] = [];
  private readonly total: number;

  constructor(
    private readonly playlist: DecodedPlaylist,
    anchor: LeaderAnchor,
    revision: { atUs: number; index: number; frame: number },
    private readonly loop: boolean,
    durationS: number,
  ) {
    this.sampleRate = playlist.outputRate;
    this.nsPerFrame = 1e9 / playlist.outputRate;
    let acc = 0;
    for (const f of playlist.frames) {
      this.starts.push(acc);
      acc += f;
    }
    this.total = acc;
    const startFrame = (this.starts[revision.index] ?? 0) + revision.frame;
    this.t0Ns = hostMonoNsAtLeaderUs(anchor, revision.atUs) - startFrame * this.nsPerFrame;
    this.firstFrame = startFrame;
    this.endFrame = loop ? startFrame + Math.ceil(durationS * this.sampleRate) : this.total;
  }

  trueTimeOfFrame(frame: number): number {
    return this.t0Ns + frame * this.nsPerFrame;
  }

  frameAtTrueTime(ns: number): number {
    return (ns - this.t0Ns) / this.nsPerFrame;
  }

  /** Global playlist position (track, frame in track) of reference frame g, or null past the end. */
  positionOf(g: number): { index: number; frame: number } | null {
    if (g < this.firstFrame || g >= this.endFrame || this.total === 0) return null;
    const p = this.loop ? g % this.total : g;
    for (let k = this.starts.length - 1; k >= 0; k--) {
      const s = this.starts[k]!;
      if (p >= s) return { index: k, frame: p - s };
    }
    return null;
  }

  /** True time (host monotonic ns) of every track start in [fromNs, toNs). */
  trackStartsNs(fromNs: number, toNs: number): number[] {
    const out: number[] = [];
    if (this.total === 0) return out;
    const lo = Math.ceil(this.frameAtTrueTime(fromNs));
    const hi = this.frameAtTrueTime(toNs);
    const laps = this.loop ? Math.ceil(hi / this.total) + 1 : 1;
    for (let lap = 0; lap < laps; lap++) {
      for (const s of this.starts) {
        const g = lap * this.total + s;
        if (g >= lo && g < hi && g >= this.firstFrame) out.push(this.trueTimeOfFrame(g));
      }
    }
    return out.sort((x, y) => x - y);
  }

  monoSamples(fromFrame: number, count: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const pos = this.positionOf(fromFrame + i);
      if (pos === null) continue;
      const t = this.playlist.tracks[pos.index];
      if (t === undefined) continue;
      out[i] = (t[2 * pos.frame]! + t[2 * pos.frame + 1]!) / 65536;
    }
    return out;
  }
}
