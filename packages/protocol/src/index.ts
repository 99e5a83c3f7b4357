// Public surface of @jaudiosync/protocol: version, error registry, WebSocket messages and codec, REST schemas.
export * from './version.js';
export * from './errors.js';
export * from './messages.js';
export * from './codec.js';
