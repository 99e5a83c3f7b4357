// Renders the PortAudio device list as text for `jaudiosync-member --list-devices`.

export interface DeviceInfo {
  index: number;
  name: string;
  hostApi: string;
  maxOutputChannels: number;
  defaultSampleRate: number;
  defaultLowOutputLatencyS: number;
  defaultHighOutputLatencyS: number;
  isDefaultOutput: boolean;
}

/** One line per output device: `* 3  hw:0 (ALSA)  2 ch  48000 Hz  latency 8.7-34.8 ms`. */
export function renderDeviceList(devices: readonly DeviceInfo[]): string {
  const outputs = devices.filter((d) => d.maxOutputChannels > 0);
  if (outputs.length === 0) return 'No PortAudio output devices found.\n';
  const lines = outputs.map((d) => {
    const mark = d.isDefaultOutput ? '*' : ' ';
    const lowMs = (d.defaultLowOutputLatencyS * 1000).toFixed(1);
    const highMs = (d.defaultHighOutputLatencyS * 1000).toFixed(1);
    return (
      `${mark} ${String(d.index).padStart(3)}  ${d.name} (${d.hostApi})  ${d.maxOutputChannels} ch  ` +
      `${Math.round(d.defaultSampleRate)} Hz  latency ${lowMs}-${highMs} ms`
    );
  });
  return (
    'PortAudio output devices (* = default; pass the index or part of the name as the device):\n' +
    lines.join('\n') +
    '\n'
  );
}
