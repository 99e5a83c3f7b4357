// Protocol version carried by every WebSocket message (`v`) and the mDNS TXT record.
// A peer with another major version is refused; minor versions are compatible.
export const PROTOCOL_MAJOR = 1;
export const PROTOCOL_MINOR = 0;
export const PROTOCOL_VERSION = `${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`;
