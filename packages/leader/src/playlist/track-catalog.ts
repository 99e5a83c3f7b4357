// The tracks of the loaded playlist: content hash (sha256, streamed), exact length in frames at the
// output rate, title, loudness (BS.1770 + ReplayGain tags, for normalization), and where the file
// is. Analyses are cached by hash in memory and in the state dir (and hashes by path+size+mtime), so
// a restart or a reload does not decode everything again.
// A track that cannot be hashed or decoded is reported per entry and skipped.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ReplayGainTags, TrackArtwork, TrackLoudness, TrackTags } from '@jaudiosync/media';
import { framesAtRate } from '@jaudiosync/media/frames-at-rate';
import { readTrackTags } from '@jaudiosync/media/file-tags';
import type { ParsedPlaylist, PlaylistProblem } from './m3u8-parser.js';
import type { TrackAnalysis, TrackAnalyzer } from './track-analyzer.js';
import { readJsonFile, writeJsonAtomic } from '../state/atomic-json.js';

const CACHE_FILE = 'track-cache.json';
const CACHE_VERSION = 1;
/** Cache entries kept on disk: a few playlists' worth. */
const MAX_CACHE_ENTRIES = 50_000;

export interface CatalogTrack {
  /** sha256 hex of the file: the track id on the wire and in /tracks/<id>. */
  id: string;
  path: string;
  title: string;
  /** Length at the output rate. */
  frames: number;
  sourceRate: number;
  sourceFrames: number;
  channels: number;
  sizeBytes: number;
  mtimeMs: number;
  /** Line of the playlist it came from. */
  line: number;
  /** From the file's tags (music-metadata), when it has them. */
  artist?: string;
  /** Album tag (album normalization groups tracks by it), and album artist when tagged. */
  album?: string;
  albumArtist?: string;
  /** The embedded cover, served at /api/artwork/<sha256> (absent: none, or not servable: see artworkSkipped). */
  artwork?: TrackArtwork;
  artworkSkipped?: string;
  /** Measured loudness (absent in states saved before it was measured: such tracks get no gain). */
  loudness?: TrackLoudness;
  replayGain?: ReplayGainTags;
}

export interface CatalogLoadResult {
  tracks: CatalogTrack[];
  problems: PlaylistProblem[];
}

interface HashEntry { path: string; sizeBytes: number; mtimeMs: number; id: string }
interface CacheFile { version: number; analyses: Record<string, TrackAnalysis>; hashes: HashEntry[]; tags?: Record<string, TrackTags> }

export interface TrackCatalogOptions {
  analyzer: TrackAnalyzer;
  outputRate: number;
  /** State dir for the cache file; in-memory only when absent. */
  stateDir?: string;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Tag reader for a track whose analysis came from the cache (default: music-metadata through
   *  @jaudiosync/media); a fresh analysis brings its tags along. */
  readTags?(path: string): Promise<TrackTags>;
}

export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class TrackCatalog {
  private current: CatalogTrack[] = [];
  private byId = new Map<string, CatalogTrack>();
  private readonly analyses = new Map<string, TrackAnalysis>();
  private readonly tags = new Map<string, TrackTags>();
  private readonly hashes = new Map<string, HashEntry>();
  private cacheLoaded = false;

  constructor(private readonly options: TrackCatalogOptions) {}

  get tracks(): readonly CatalogTrack[] {
    return this.current;
  }

  get outputRate(): number {
    return this.options.outputRate;
  }

  byHash(id: string): CatalogTrack | undefined {
    return this.byId.get(id);
  }

  /** Replaces the catalog with the tracks of `playlist` (hashing and decoding as needed). */
  async load(playlist: ParsedPlaylist): Promise<CatalogLoadResult> {
    await this.loadCache();
    const tracks: CatalogTrack[] = [];
    const problems: PlaylistProblem[] = [...playlist.problems];
    for (const entry of playlist.entries) {
      try {
        const st = await stat(entry.path);
        const id = await this.hashOf(entry.path, st.size, st.mtimeMs);
        const analysis = await this.analysisOf(id, entry.path);
        const frames = framesAtRate(analysis.sourceFrames, analysis.sourceRate, this.options.outputRate);
        if (frames < 1) throw new Error('no audio frames');
        const tags = await this.tagsOf(id, entry.path, analysis.trackTags);
        // The playlist's own title (#EXTINF) wins; then the file's title tag; then its name.
        tracks.push({
          id, path: entry.path, title: entry.title ?? tags.title ?? path.basename(entry.path, path.extname(entry.path)),
          frames, sourceRate: analysis.sourceRate, sourceFrames: analysis.sourceFrames, channels: analysis.channels,
          sizeBytes: st.size, mtimeMs: st.mtimeMs, line: entry.line,
          ...(tags.artist !== undefined ? { artist: tags.artist } : {}),
          ...((tags.album ?? analysis.tags?.album) !== undefined ? { album: (tags.album ?? analysis.tags?.album)! } : {}),
          ...(tags.artwork !== undefined ? { artwork: tags.artwork } : {}),
          ...(tags.artworkSkipped !== undefined ? { artworkSkipped: tags.artworkSkipped } : {}),
          ...(analysis.loudness !== undefined ? { loudness: analysis.loudness } : {}),
          ...(analysis.tags?.albumArtist !== undefined ? { albumArtist: analysis.tags.albumArtist } : {}),
          ...(analysis.tags?.replayGain !== undefined ? { replayGain: analysis.tags.replayGain } : {}),
        });
      } catch (err) {
        const reason = `cannot decode: ${(err as Error).message}`;
        this.options.log?.warn({ path: entry.path, line: entry.line, reason }, 'track skipped');
        problems.push({ line: entry.line, entry: entry.entry, reason });
      }
    }
    problems.sort((a, b) => a.line - b.line);
    this.setTracks(tracks);
    await this.saveCache();
    return { tracks, problems };
  }

  /** Restores a catalog saved in the leader state (no decoding; files are re-checked when served). */
  restore(tracks: CatalogTrack[]): void {
    this.setTracks(tracks.map((t) => {
      if (t.loudness === undefined) return t;
      const loudness = loudnessFrom(t.loudness);
      const { loudness: _dropped, ...rest } = t;
      return loudness === undefined ? rest : { ...rest, loudness };
    }));
  }

  private setTracks(tracks: CatalogTrack[]): void {
    this.current = tracks;
    this.byId = new Map(tracks.map((t) => [t.id, t]));
  }

  private async hashOf(filePath: string, sizeBytes: number, mtimeMs: number): Promise<string> {
    const known = this.hashes.get(filePath);
    if (known && known.sizeBytes === sizeBytes && known.mtimeMs === mtimeMs) return known.id;
    const id = await sha256File(filePath);
    this.hashes.set(filePath, { path: filePath, sizeBytes, mtimeMs, id });
    return id;
  }

  /** Tags by content hash: read once per file content, kept with the analyses; taken from a
   *  measurement made now (its one parse of the file), else read. */
  private async tagsOf(id: string, filePath: string, measured: TrackTags | undefined): Promise<TrackTags> {
    const cached = this.tags.get(id);
    if (cached) return cached;
    const tags = measured ?? await (this.options.readTags ?? readTrackTags)(filePath);
    if (tags.artworkSkipped !== undefined) this.options.log?.info({ path: filePath, reason: tags.artworkSkipped }, 'cover not served');
    this.tags.set(id, tags);
    return tags;
  }

  /** The track whose cover has this hash (for GET /api/artwork/<sha256>). */
  byArtwork(sha256: string): CatalogTrack | undefined {
    return this.current.find((t) => t.artwork?.sha256 === sha256);
  }

  private async analysisOf(id: string, filePath: string): Promise<TrackAnalysis> {
    const cached = this.analyses.get(id);
    // Analyses cached before loudness was measured are measured again (once).
    if (cached?.loudness !== undefined) return cached;
    const analysis = await this.options.analyzer.analyze(filePath);
    if (!Number.isSafeInteger(analysis.sourceFrames) || !Number.isSafeInteger(analysis.sourceRate) || analysis.sourceRate < 1) {
      throw new Error('decoder returned no sample rate or length');
    }
    const { trackTags: _tags, ...kept } = analysis;
    this.analyses.set(id, kept);
    return analysis;
  }

  private get cachePath(): string | undefined {
    return this.options.stateDir === undefined ? undefined : path.join(this.options.stateDir, CACHE_FILE);
  }

  private async loadCache(): Promise<void> {
    if (this.cacheLoaded || !this.cachePath) return;
    this.cacheLoaded = true;
    try {
      const data = (await readJsonFile(this.cachePath)) as CacheFile | undefined;
      if (!data || data.version !== CACHE_VERSION) return;
      for (const [id, a] of Object.entries(data.analyses ?? {})) {
        if (!/^[0-9a-f]{64}$/.test(id) || !Number.isSafeInteger(a?.sourceFrames) || !Number.isSafeInteger(a?.sourceRate)) continue;
        const loudness = loudnessFrom(a.loudness);
        const { loudness: _raw, ...rest } = a;
        this.analyses.set(id, loudness === undefined ? rest : { ...rest, loudness });
      }
      for (const [id, t] of Object.entries(data.tags ?? {})) if (/^[0-9a-f]{64}$/.test(id) && validTags(t)) this.tags.set(id, t);
      for (const h of data.hashes ?? []) if (typeof h?.path === 'string' && typeof h.id === 'string') this.hashes.set(h.path, h);
    } catch (err) {
      this.options.log?.warn({ err: (err as Error).message }, 'track cache unreadable; starting empty');
    }
  }

  private async saveCache(): Promise<void> {
    if (!this.cachePath) return;
    const analyses = Object.fromEntries([...this.analyses].slice(-MAX_CACHE_ENTRIES));
    const tags = Object.fromEntries([...this.tags].slice(-MAX_CACHE_ENTRIES));
    const data: CacheFile = { version: CACHE_VERSION, analyses, hashes: [...this.hashes.values()].slice(-MAX_CACHE_ENTRIES), tags };
    try {
      await writeJsonAtomic(this.cachePath, data);
    } catch (err) {
      this.options.log?.warn({ err: (err as Error).message }, 'cannot write track cache');
    }
  }
}

/** A cached tag entry is used only if every field has its type (the cache file is input too). */
function validTags(t: unknown): t is TrackTags {
  if (typeof t !== 'object' || t === null) return false;
  const o = t as Record<string, unknown>;
  for (const k of ['title', 'artist', 'album', 'artworkSkipped']) if (o[k] !== undefined && typeof o[k] !== 'string') return false;
  const a = o['artwork'] as Record<string, unknown> | undefined;
  if (a === undefined) return true;
  return typeof a === 'object' && a !== null && typeof a['sha256'] === 'string' && /^[0-9a-f]{64}$/.test(a['sha256'])
    && ['image/jpeg', 'image/png', 'image/gif', 'image/webp'].includes(a['mime'] as string) && Number.isSafeInteger(a['bytes']);
}

/**
 * A loudness read back from JSON (the cache or the saved state), or undefined when unusable. JSON
 * has no -Infinity: a silent track's true peak comes back as null.
 */
export function loudnessFrom(v: unknown): TrackLoudness | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const l = o['integratedLufs'];
  const p = o['truePeakDbtp'];
  if (!(l === null || (typeof l === 'number' && Number.isFinite(l)))) return undefined;
  if (!(p === null || p === -Infinity || (typeof p === 'number' && Number.isFinite(p)))) return undefined;
  return { integratedLufs: l, truePeakDbtp: p === null ? -Infinity : p };
}
