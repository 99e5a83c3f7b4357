// Which native library the member's sound-card sink plays through when the configuration leaves
// it to us (`--audio-api auto`). PulseAudio's own client library gives the server's raw timing;
// PortAudio's ALSA `pulse` device gives the client library's smoothed estimate, which wanders
// (bench:realpath on PulseAudio, 10 minutes, quiet: p99 16 µs through libpulse, 46-179 µs through
// the ALSA device; docs/audio-output.md, "The native PulseAudio output"). PipeWire's
// own ALSA device is better still (1-3 µs), so a PipeWire host that has it stays on PortAudio.
import type { OutputApi, PulseServerInfo } from '@jaudiosync/portaudio';

export type AudioApiSetting = OutputApi | 'auto';

export interface OutputApiProbe {
  /** The addon can play through libpulse. */
  hasPulse(): boolean;
  /** The PulseAudio server this process would reach, or why none. */
  pulseServer(): PulseServerInfo | { error: string };
  /** PortAudio's device names (PipeWire's own ALSA device is named `pipewire`). */
  portAudioDeviceNames(): string[];
}

export interface OutputApiChoice {
  api: OutputApi;
  /** for the log */
  reason: string;
}

export function chooseOutputApi(setting: AudioApiSetting, device: string | undefined, probe: OutputApiProbe): OutputApiChoice {
  if (setting !== 'auto') return { api: setting, reason: `--audio-api ${setting}` };
  if (device !== undefined && device.trim() !== '') return { api: 'portaudio', reason: `a PortAudio device was named (${device})` };
  if (!probe.hasPulse()) return { api: 'portaudio', reason: 'the audio addon was built without libpulse-dev' };
  const server = probe.pulseServer();
  if ('error' in server) return { api: 'portaudio', reason: `no PulseAudio server (${server.error})` };
  const onPipeWire = /pipewire/i.test(server.server);
  if (onPipeWire && probe.portAudioDeviceNames().some((n) => n.toLowerCase() === 'pipewire')) {
    return { api: 'portaudio', reason: `${server.server}: PipeWire's own ALSA device is there (its timing is exact)` };
  }
  return { api: 'pulse', reason: `${server.server} ${server.version}, sink ${server.defaultSink || '(default)'}` };
}
