// Tells the user when the output's DAC time reports are too noisy to set the buffering lead well:
// through pipewire-pulse (the ALSA `pulse` device on a PipeWire host) the reports jump by ~2 ms in
// 1.5 s segments, the DAC clock then follows the callbacks, and members with different buffers
// agree only to ~1-2 ms. PipeWire's own ALSA device reports within ±10 µs (docs/audio-output.md).
import type { DacClockSources } from './dac-clock.js';

/** Report scatter (µs) above which the reports are called noisy. PulseAudio's: 20-60 µs. */
export const NOISY_REPORT_SCALE_US = 500;
/** Judged only after this many bins (60 s) in the window: start-up transients are not the device. */
export const REPORT_QUALITY_MIN_BINS = 240;

/** A one-line warning when the reports are noisy, else null. */
export function noisyReportsWarning(sources: DacClockSources, windowBins: number): string | null {
  if (windowBins < REPORT_QUALITY_MIN_BINS || !(sources.reportScaleUs > NOISY_REPORT_SCALE_US)) return null;
  return (
    `the output device's DAC time reports scatter by ${Math.round(sources.reportScaleUs)} µs ` +
    `(pipewire-pulse, or a host too busy for its audio): the member follows its callbacks instead, and ` +
    `members with different buffers may disagree by 1-2 ms. On a PipeWire host use --device pipewire (docs/audio-output.md)`
  );
}
