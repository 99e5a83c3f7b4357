// Public API of @jaudiosync/media: probing, decoding to 48 kHz-style int16 stereo PCM in a worker
// thread, the band-limited resampler, and the one track-length formula shared by leader and members.
export { framesAtRate, MAX_SAMPLE_RATE_HZ, MAX_SOURCE_FRAMES } from './frames-at-rate.js';
export { designPolyphaseFilter, PASSBAND_FRACTION, STOPBAND_FRACTION, STOPBAND_DB, type PolyphaseFilter } from './kaiser-sinc.js';
export { PolyphaseResampler } from './polyphase-resampler.js';
