// Persists what a member must remember across restarts: its per-member settings (volume, output
// delay, channel mode) and the last timeline it was given. Written atomically (tmp + rename);
// a missing or corrupt file yields defaults rather than a crash.
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '@jaudiosync/protocol/atomic-file';
import { join } from 'node:path';
import type { ChannelMode } from './member-config.js';

export interface MemberSettings {
  volume: number;
  atUs: number;
  outputDelayUs: number;
  channelMode: ChannelMode;
}

export const DEFAULT_SETTINGS: MemberSettings = { volume: 1, atUs: 0, outputDelayUs: 0, channelMode: 'stereo' };

const MODES: readonly ChannelMode[] = ['stereo', 'mono', 'left', 'right'];

export class SettingsStore {
  private readonly file: string;

  constructor(private readonly dir: string) {
    this.file = join(dir, 'member-state.json');
  }

  load(): { settings: MemberSettings; timeline: unknown } {
    try {
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      const s = (raw['settings'] ?? {}) as Record<string, unknown>;
      const settings: MemberSettings = {
        volume: typeof s['volume'] === 'number' && s['volume'] >= 0 && s['volume'] <= 1 ? s['volume'] : DEFAULT_SETTINGS.volume,
        atUs: 0,
        outputDelayUs: Number.isInteger(s['outputDelayUs']) && Math.abs(s['outputDelayUs'] as number) <= 5_000_000 ? (s['outputDelayUs'] as number) : 0,
        channelMode: MODES.includes(s['channelMode'] as ChannelMode) ? (s['channelMode'] as ChannelMode) : 'stereo',
      };
      return { settings, timeline: raw['timeline'] ?? null };
    } catch {
      return { settings: { ...DEFAULT_SETTINGS }, timeline: null };
    }
  }

  /** Returns an error message instead of throwing: a read-only disk must not stop the music. */
  save(settings: MemberSettings, timeline: unknown): string | null {
    try {
      writeFileAtomicSync(this.file, JSON.stringify({ settings, timeline }));
      return null;
    } catch (err) {
      return `cannot persist member state in ${this.dir}: ${(err as Error).message}`;
    }
  }
}
