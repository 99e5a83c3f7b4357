// What a volume of 0..1 means (group volume in the timeline, member volume in settings): a
// perceptual curve, gain = volume^1.5 (the curve Sendspin players use), so equal slider steps sound
// like roughly equal loudness steps: 1 = 0 dB, 0.5 = -9 dB (about half as loud), 0.1 = -30 dB,
// 0.01 = -60 dB, 0 = mute. Every host converts with this one function.

export const VOLUME_CURVE_EXPONENT = 1.5;

/** Linear amplitude gain of a volume 0..1 (values outside are clamped; NaN is mute). */
export function volumeToGain(volume: number): number {
  if (!(volume > 0)) return 0;
  if (volume >= 1) return 1;
  return volume ** VOLUME_CURVE_EXPONENT;
}

/** The volume whose gain is `gain` (inverse of volumeToGain, for UIs showing dB). */
export function gainToVolume(gain: number): number {
  if (!(gain > 0)) return 0;
  if (gain >= 1) return 1;
  return gain ** (1 / VOLUME_CURVE_EXPONENT);
}

/** Linear amplitude of a gain in dB. */
export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}
