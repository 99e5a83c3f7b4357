// Which sample rate the output device is opened at. The timeline has one rate (48 kHz by default)
// for every member; a device that cannot open at it (a USB DAC or an HDMI output that only does
// 44.1 kHz) is opened at a rate it does, and the scheduler resamples to it (its resampler already
// runs at a ratio near 1 for drift; here the ratio is near timelineRate/deviceRate instead).

/** Rates tried after the timeline's own, most common first. */
export const FALLBACK_RATES = [48000, 44100, 96000, 88200, 32000, 192000, 176400, 22050, 16000] as const;

export interface DeviceRateChoice {
  rate: number;
  /** why this rate (for the log) */
  reason: string;
}

/**
 * `forced` > 0: that rate (the user knows the device). Otherwise the timeline's rate if the device
 * opens at it, else its default rate, else the first fallback it opens at. When no rate is
 * confirmed (e.g. the audio server is not up yet and every check fails), the timeline's rate: the
 * open will say what is wrong and the output supervisor retries.
 * `supports(rate)` answers null when the device opens at `rate`, else the reason.
 */
export function chooseDeviceRate(timelineRate: number, forced: number, deviceDefaultRate: number, supports: (rate: number) => string | null): DeviceRateChoice {
  if (forced > 0) return { rate: forced, reason: `--device-rate ${forced}` };
  const first = supports(timelineRate);
  if (first === null) return { rate: timelineRate, reason: 'the timeline rate' };
  const candidates: number[] = [];
  if (Number.isInteger(deviceDefaultRate) && deviceDefaultRate >= 8000 && deviceDefaultRate <= 384000) candidates.push(deviceDefaultRate);
  for (const r of FALLBACK_RATES) if (!candidates.includes(r)) candidates.push(r);
  for (const r of candidates) {
    if (r === timelineRate) continue;
    if (supports(r) === null) return { rate: r, reason: `the device does not open at ${timelineRate} Hz (${first}): resampling to ${r} Hz` };
  }
  return { rate: timelineRate, reason: `no rate confirmed by the device (${first}): trying the timeline rate` };
}
