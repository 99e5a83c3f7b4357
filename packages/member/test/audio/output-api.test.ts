import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseOutputApi, type OutputApiProbe } from '../../src/audio/output-api.js';

function probe(over: Partial<OutputApiProbe> = {}): OutputApiProbe & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    hasPulse: over.hasPulse ?? (() => (asked.push('hasPulse'), true)),
    pulseServer: over.pulseServer ?? (() => (asked.push('server'), { server: 'pulseaudio', version: '16.1', defaultSink: 'alsa_output.usb' })),
    portAudioDeviceNames: over.portAudioDeviceNames ?? (() => (asked.push('devices'), ['default', 'pulse'])),
  };
}

test('an explicit --audio-api is taken as it is, without probing', () => {
  const p = probe();
  assert.deepEqual(chooseOutputApi('portaudio', undefined, p), { api: 'portaudio', reason: '--audio-api portaudio' });
  assert.equal(chooseOutputApi('pulse', 'hw:1', p).api, 'pulse');
  assert.deepEqual(p.asked, []);
});

test('auto: a PulseAudio server and no named device -> libpulse', () => {
  const c = chooseOutputApi('auto', undefined, probe());
  assert.equal(c.api, 'pulse');
  assert.match(c.reason, /pulseaudio 16\.1, sink alsa_output\.usb/);
});

test('auto: a named PortAudio device stays on PortAudio (the user chose it)', () => {
  const p = probe();
  assert.equal(chooseOutputApi('auto', 'hw:CARD=Device', p).api, 'portaudio');
  assert.equal(chooseOutputApi('auto', '  ', p).api, 'pulse', 'a blank name is no name');
});

test('auto: no libpulse in the addon, or no server -> PortAudio, with the reason', () => {
  const noLib = chooseOutputApi('auto', undefined, probe({ hasPulse: () => false }));
  assert.equal(noLib.api, 'portaudio');
  assert.match(noLib.reason, /libpulse-dev/);
  const noServer = chooseOutputApi('auto', undefined, probe({ pulseServer: () => ({ error: 'PulseAudio: connect: Connection refused' }) }));
  assert.equal(noServer.api, 'portaudio');
  assert.match(noServer.reason, /Connection refused/);
});

test("auto: PipeWire keeps PortAudio when its own ALSA device is there, else takes pipewire-pulse natively", () => {
  const pw = { server: 'PulseAudio (on PipeWire 0.3.65)', version: '15.0.0', defaultSink: 'jas' };
  const own = chooseOutputApi('auto', undefined, probe({ pulseServer: () => pw, portAudioDeviceNames: () => ['default', 'pipewire', 'pulse'] }));
  assert.equal(own.api, 'portaudio');
  assert.match(own.reason, /own ALSA device/);
  assert.equal(chooseOutputApi('auto', undefined, probe({ pulseServer: () => pw, portAudioDeviceNames: () => ['default', 'pulse'] })).api, 'pulse');
});
