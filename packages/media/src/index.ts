// Public API of @jaudiosync/media: probing, decoding to int16 stereo at the output rate in a worker
// thread, the band-limited resampler, and the one track-length formula shared by leader and members.
export { framesAtRate, MAX_SAMPLE_RATE_HZ, MAX_SOURCE_FRAMES } from './frames-at-rate.js';
export {
  designPolyphaseFilter, PASSBAND_FRACTION, STOPBAND_FRACTION, STOPBAND_DB, DEFAULT_FILTER_SPEC, type FilterSpec, type PolyphaseFilter,
} from './kaiser-sinc.js';
export { filterResponse, type FilterResponse } from './filter-response.js';
export { PolyphaseResampler } from './polyphase-resampler.js';
export { probeTrack, type TrackProbe } from './probe-track.js';
export {
  decodeToPcm, measureTrack, DEFAULT_OUTPUT_RATE,
  type DecodedTrack, type DecodeOptions, type DecodeHooks, type DecodeProgress, type TrackInput, type TrackLength, type TrackMeasurement,
} from './decode-to-pcm.js';
export { TrackDecoder, DEFAULT_WORKERS, DEFAULT_DECODE_NICE, type TrackDecoderOptions } from './track-decoder.js';
export { lowerThreadPriority, currentThreadId, MAX_NICE, type ThreadPriority } from './thread-priority.js';
export { TrackError, type TrackErrorKind, type TrackErrorTransfer } from './track-error.js';
export { DECODABLE_FORMATS } from './source-inspect.js';
export {
  readArtwork, artworkOf, sniffImage, MAX_ARTWORK_BYTES, MAX_SCALED_ARTWORK_BYTES, MAX_TAG_CHARS,
  type TrackTags, type TrackArtwork, type ArtworkMime,
} from './track-tags.js';
export { phoneSizedCover, PHONE_COVER_PX, MAX_COVER_MEGAPIXELS, type SizedCover } from './cover-resize.js';
export { resizeCover, COVER_RESIZE_TIMEOUT_MS } from './cover-resize-worker.js';
export { LoudnessMeter, type TrackLoudness } from './loudness-meter.js';
export { type ReplayGainTags, type GainTags } from './replaygain-tags.js';
export { readFileTags, readTrackTags, type FileTags } from './file-tags.js';
