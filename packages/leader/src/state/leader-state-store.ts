// Persists what a restarted leader needs to take over members that kept playing without
// disturbing them: playlist source, catalog, timeline (with revisions), member settings.
// Writes are coalesced and atomic (atomic-json.ts).
import path from 'node:path';
import { validateTimeline, type Timeline } from '@jaudiosync/protocol/timeline';
import { readJsonFile, writeJsonAtomic } from './atomic-json.js';
import type { CatalogTrack } from '../playlist/track-catalog.js';
import type { PlaylistProblem } from '../playlist/m3u8-parser.js';
import type { MemberSettings, OrderState } from '../timeline/timeline-controller.js';
import type { LoudnessSettings } from '../playlist/loudness-gain.js';

export const STATE_FILE = 'leader-state.json';
const STATE_VERSION = 1;
/** Bursts of commands (a UI slider) are written once. */
const SAVE_DELAY_MS = 100;

export interface LeaderState {
  version: number;
  savedAtWallMs: number;
  playlistPath: string | null;
  problems: PlaylistProblem[];
  tracks: CatalogTrack[];
  timeline: Timeline;
  memberSettings: Record<string, MemberSettings>;
  /** Play order, shuffle seed, repeat, stop-after (absent in older state: playlist order; the controller checks it). */
  order?: OrderState;
  /** Loudness normalization as last set (absent in states saved before it existed). */
  loudness?: LoudnessSettings;
}

export interface StateLog { warn(obj: object, msg: string): void }

export class LeaderStateStore {
  private timer: NodeJS.Timeout | null = null;
  private pending: (() => LeaderState) | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly stateDir: string, private readonly log?: StateLog) {}

  get filePath(): string {
    return path.join(this.stateDir, STATE_FILE);
  }

  /** The saved state, or undefined when there is none or it is unusable (logged). */
  async load(): Promise<LeaderState | undefined> {
    let data: unknown;
    try {
      data = await readJsonFile(this.filePath);
    } catch (err) {
      this.log?.warn({ err: (err as Error).message, file: this.filePath }, 'saved state unreadable; starting fresh');
      return undefined;
    }
    if (data === undefined) return undefined;
    const s = data as Partial<LeaderState>;
    const problem = s.version !== STATE_VERSION ? `version ${String(s.version)}`
      : !Array.isArray(s.tracks) ? 'tracks missing'
        : validateTimeline(s.timeline);
    if (problem) {
      this.log?.warn({ problem, file: this.filePath }, 'saved state unusable; starting fresh');
      return undefined;
    }
    return { ...s, memberSettings: s.memberSettings ?? {}, problems: s.problems ?? [] } as LeaderState;
  }

  /** Schedules a save; `snapshot` is taken when the write happens (latest state wins). */
  save(snapshot: () => LeaderState): void {
    this.pending = snapshot;
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), SAVE_DELAY_MS);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const snapshot = this.pending;
    this.pending = null;
    if (snapshot) {
      this.writing = this.writing.then(async () => {
        try {
          await writeJsonAtomic(this.filePath, snapshot());
        } catch (err) {
          this.log?.warn({ err: (err as Error).message, file: this.filePath }, 'cannot save state');
        }
      });
    }
    await this.writing;
  }

  static version(): number {
    return STATE_VERSION;
  }
}
