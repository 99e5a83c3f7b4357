// One valid example of every WebSocket message, shared by the codec tests.
import type { MessageInputOf, MessageType } from '../src/messages.js';

const TRACK_A = 'a'.repeat(64);
const TRACK_B = '0123456789abcdef'.repeat(4);
/** Well-formed handshake fields (shape only; auth.test.ts and handshake-fields.test.ts check values). */
const NONCE_M = 'Mm_-'.repeat(10) + 'abc';
const PROOF_M = '0123456789abcdef'.repeat(4);
const PROOF_L = 'fedcba9876543210'.repeat(4);

export const SAMPLES: { [T in MessageType]: MessageInputOf<T> } = {
  hello: {
    type: 'hello', memberId: 'kitchen-pi.1', hostname: 'kitchen', version: '0.1.0',
    outputRate: 48000, channels: 2, sink: 'portaudio', clockMode: 'leader',
    challenge: NONCE_M, proof: PROOF_M,
  },
  state: {
    type: 'state', memberId: 'kitchen-pi.1',
    clock: { mode: 'leader', synced: true, offsetUs: -1_700_000_000_123.25, uncertaintyUs: 42.5, rttUs: 310, ratePpm: -12.75, samples: 64 },
    cache: { trackIds: [TRACK_A, TRACK_B], bytes: 123_456_789 },
    decode: [{ trackId: TRACK_A, progress: 1 }, { trackId: TRACK_B, progress: 0.5, error: 'still going' }],
    position: { rev: 3, index: 1, frame: 4800, leaderUs: 1_700_000_000_000_000 },
    audio: { sink: 'portaudio', device: 'default', underruns: 0, driftPpm: 250.5, correctionPpm: -250.5, dropped: 1, duplicated: 0, dacLatencyUs: 10_600 },
    errors: [{ code: 'JAS_ERR_FETCH', message: 'cannot fetch x', atUs: 1_699_999_999_000_000 }],
  },
  pong: { type: 'pong', seq: 7, echoUs: 1_700_000_000_000_000 },
  'track-error': { type: 'track-error', trackId: TRACK_B, reason: 'decode failed: bad frame header' },
  welcome: {
    type: 'welcome', leaderId: 'living-room', ntpPort: 11123,
    trackBaseUrl: 'http://192.168.1.10:7700/tracks', serverTimeUs: 1_700_000_000_000_000,
    proof: PROOF_L,
  },
  timeline: {
    type: 'timeline', rev: 3, outputRate: 48000, loop: false,
    tracks: [{ id: TRACK_A, frames: 480_000, title: 'One' }, { id: TRACK_B, frames: 96_000 }],
    revisions: [
      { atUs: 1_700_000_000_000_000, playing: true, index: 0, frame: 0 },
      { atUs: 1_700_000_005_000_000, playing: false, index: 0, frame: 240_000 },
      { atUs: 1_700_000_009_000_000, playing: true, index: 1, frame: 0 },
    ],
    volume: { gain: 0.8, atUs: 1_700_000_000_000_000 },
  },
  settings: { type: 'settings', volume: 0.25, atUs: 1_700_000_000_000_000, outputDelayUs: -2500, channelMode: 'mono' },
  ping: { type: 'ping', seq: 7, sentUs: 1_700_000_000_000_000 },
  error: { type: 'error', code: 'JAS_ERR_VALIDATION', message: '/x: bad', field: '/x' },
};

/** A deep copy of a sample, to mutate in a test. */
export function sample<T extends MessageType>(type: T): MessageInputOf<T> & { v?: string } {
  return structuredClone(SAMPLES[type]) as MessageInputOf<T>;
}
