// Public surface of @jaudiosync/protocol: version, error registry, WebSocket messages and codec,
// REST schemas, NTP packet codec, timeline maths, shared-key authentication.
export * from './version.js';
export * from './errors.js';
export * from './messages.js';
export * from './codec.js';
export * from './rest.js';
export * from './ntp-packet.js';
export * from './timeline.js';
export * from './auth.js';
