// Where avahi-daemon's files are: apart from avahi-service-file.ts so that the config's defaults do
// not load node:net (10-20 ms of the member's start, before its audio output starts: issue #18).
/** The member's static service file in avahi-daemon's services directory. */
export const AVAHI_SERVICE_FILE = '/etc/avahi/services/jaudiosync-member.service';
/** avahi-daemon's client socket (nss-mdns and avahi's C client library use it too). */
export const AVAHI_SOCKET = '/run/avahi-daemon/socket';
