// Protocol version carried by every WebSocket message (`v`) and the mDNS TXT record.
// A peer with another major version is refused; minor versions are compatible.
export const PROTOCOL_MAJOR = 1;
// 1.1: optional handshake auth fields hello.challenge/proof, welcome.proof (docs/security.md).
// 1.2: optional welcome.timescaleId (a restarted member keeps its clock fit: docs/clock.md).
// 1.3: optional state.audio.syncErrorUs (the member's own view of its playback error).
// 1.4: optional state.audio.output (lost / restarts / last gap of the audio output).
// 1.5: optional timeline tracks[].gainDb and trackGainAtUs (loudness normalization, docs/loudness.md), crossfadeFrames.
export const PROTOCOL_MINOR = 5;
export const PROTOCOL_VERSION = `${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`;
