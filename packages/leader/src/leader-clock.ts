// Wires the clock engineer's LeaderTimescale and NtpServer (packages/leader/src/clock) into the
// leader: one timescale for the timeline, the NTP server and pings.
import { LeaderTimescale } from './clock/leader-timescale.js';
import { NtpServer } from './clock/ntp-server.js';

export interface LeaderClock {
  timescale: { nowUs(): number };
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createLeaderClock(options: { ntpPort: number; host: string }): LeaderClock {
  const timescale = new LeaderTimescale();
  const ntp = new NtpServer({ port: options.ntpPort, host: options.host, timescale });
  return {
    timescale,
    start: async () => { await ntp.start(); },
    stop: async () => { await ntp.stop(); },
  };
}
