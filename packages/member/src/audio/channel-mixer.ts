// Per-member channel mode applied to interleaved stereo float frames in place: stereo (as is),
// mono (L+R)/2 on both outputs, left or right source channel on both outputs (one speaker of a pair).

export type ChannelMode = 'stereo' | 'mono' | 'left' | 'right';

export const CHANNEL_MODES: readonly ChannelMode[] = ['stereo', 'mono', 'left', 'right'];

export function isChannelMode(v: unknown): v is ChannelMode {
  return typeof v === 'string' && (CHANNEL_MODES as readonly string[]).includes(v);
}

/** Applies `mode` to `frames` interleaved stereo frames of `buf`. */
export function mixChannels(buf: Float32Array, frames: number, mode: ChannelMode): void {
  if (mode === 'stereo') return;
  for (let i = 0, j = 0; i < frames; i++, j += 2) {
    const l = buf[j]!;
    const r = buf[j + 1]!;
    const v = mode === 'mono' ? (l + r) * 0.5 : mode === 'left' ? l : r;
    buf[j] = v;
    buf[j + 1] = v;
  }
}
