// A track's name for error messages. Its own module so that track-decoder.ts (loaded by every
// member at start) does not pull in decode-to-pcm.ts and the decoders it imports (audio-decode:
// ~100 ms of a member's start-up on the x86 VM, issue #18); those load in the decode worker only.
import { basename } from 'node:path';

export function trackName(input: string | Uint8Array): string {
  return typeof input === 'string' ? basename(input) : 'input';
}
