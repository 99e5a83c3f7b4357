// Maps a decoded chunk of any channel count onto stereo: mono is duplicated, stereo passes through,
// more channels are downmixed (centre and surrounds at -3 dB, LFE dropped, normalised to not clip).

/** -3 dB: the usual weight of centre and surround channels in a stereo downmix (ITU-R BS.775). */
const SIDE_WEIGHT = Math.SQRT1_2;

/** Channel roles per count. WAV/FLAC/MP3 use the SMPTE/WAVEFORMATEXTENSIBLE order. */
type Role = 'L' | 'R' | 'C' | 'LFE' | 'Ls' | 'Rs' | 'Cs';
const SMPTE_ORDER: Record<number, readonly Role[]> = {
  3: ['L', 'R', 'C'],
  4: ['L', 'R', 'Ls', 'Rs'],
  5: ['L', 'R', 'C', 'Ls', 'Rs'],
  6: ['L', 'R', 'C', 'LFE', 'Ls', 'Rs'],
  7: ['L', 'R', 'C', 'LFE', 'Cs', 'Ls', 'Rs'],
  8: ['L', 'R', 'C', 'LFE', 'Ls', 'Rs', 'Ls', 'Rs'],
};
/** Vorbis and Opus (mapping family 1) order. */
const VORBIS_ORDER: Record<number, readonly Role[]> = {
  3: ['L', 'C', 'R'],
  4: ['L', 'R', 'Ls', 'Rs'],
  5: ['L', 'C', 'R', 'Ls', 'Rs'],
  6: ['L', 'C', 'R', 'Ls', 'Rs', 'LFE'],
  7: ['L', 'C', 'R', 'Ls', 'Rs', 'Cs', 'LFE'],
  8: ['L', 'C', 'R', 'Ls', 'Rs', 'Ls', 'Rs', 'LFE'],
};

/** [weight to left, weight to right] per channel, for `channels` channels of format `format`. */
export function downmixWeights(channels: number, format: string): Array<[number, number]> {
  const order = (format === 'oga' || format === 'opus' ? VORBIS_ORDER : SMPTE_ORDER)[channels];
  const weights: Array<[number, number]> = order === undefined
    // Unknown layouts: alternate channels left/right, equal weights.
    ? Array.from({ length: channels }, (_, i) => (i % 2 === 0 ? [1, 0] : [0, 1]))
    : order.map((role): [number, number] => {
      switch (role) {
        case 'L': return [1, 0];
        case 'R': return [0, 1];
        case 'C': case 'Cs': return [SIDE_WEIGHT, SIDE_WEIGHT];
        case 'Ls': return [SIDE_WEIGHT, 0];
        case 'Rs': return [0, SIDE_WEIGHT];
        case 'LFE': return [0, 0];
      }
    });
  const sumL = weights.reduce((s, w) => s + w[0], 0);
  const sumR = weights.reduce((s, w) => s + w[1], 0);
  const norm = Math.max(sumL, sumR, 1);
  return weights.map(([l, r]) => [l / norm, r / norm]);
}

/** Returns [left, right] for one decoded chunk (no copy for mono and stereo). */
export function toStereo(channelData: readonly Float32Array[], format: string): [Float32Array, Float32Array] {
  const n = channelData.length;
  if (n === 0) throw new RangeError('chunk has no channels');
  if (n === 1) return [channelData[0]!, channelData[0]!];
  if (n === 2) return [channelData[0]!, channelData[1]!];
  const frames = channelData[0]!.length;
  const left = new Float32Array(frames);
  const right = new Float32Array(frames);
  const weights = downmixWeights(n, format);
  for (let c = 0; c < n; c++) {
    const [wl, wr] = weights[c]!;
    const src = channelData[c]!;
    if (src.length !== frames) throw new RangeError('channels of one chunk differ in length');
    for (let i = 0; i < frames; i++) {
      const v = src[i]!;
      left[i]! += v * wl;
      right[i]! += v * wr;
    }
  }
  return [left, right];
}
