// Loudness normalization gains: target minus loudness, ReplayGain tags first, album groups, and
// the true-peak ceiling that keeps every gain from clipping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loudnessSettingsProblem, trackGains, type GainInput } from '../../src/playlist/loudness-gain.js';

const at = (lufs: number | null, peak: number, extra: Partial<GainInput> = {}): GainInput =>
  ({ frames: 48_000 * 60, loudness: { integratedLufs: lufs, truePeakDbtp: peak }, ...extra });

test('off: every gain is 0 dB', () => {
  assert.deepEqual(trackGains([at(-8, -1), at(-26, -20)], { normalize: 'off', targetLufs: -16 }).map((g) => g.gainDb), [0, 0]);
});

test('track: each track to the target; the peak ceiling (-1 dBTP) lowers a boost that would clip', () => {
  const g = trackGains([at(-8, -2), at(-16, -3), at(-26, -20), at(-26, -4), at(null, -Infinity)], { normalize: 'track', targetLufs: -16 });
  assert.deepEqual(g.map((x) => x.gainDb), [-8, 0, 10, 3, 0]);
  assert.deepEqual(g.map((x) => x.peakLimited), [false, false, false, true, false]);
  for (const [i, x] of g.entries()) {
    const peak = [-2, -3, -20, -4, -Infinity][i]!;
    assert.ok(peak + x.gainDb <= -1, `track ${i} stays under -1 dBTP`);
  }
});

test('ReplayGain tags win over the measurement (RG 2.0 reference -18 LUFS); the tagged peak counts too', () => {
  const g = trackGains([at(-10, -6, { replayGain: { trackGainDb: -2, trackPeakDb: -0.5 } })], { normalize: 'track', targetLufs: -16 });
  // Tagged loudness -16 LUFS: no change wanted; ceiling from the higher (tagged) peak: -0.5.
  assert.equal(g[0]!.sourceLufs, -16);
  assert.equal(g[0]!.gainDb, -0.5);
  assert.equal(g[0]!.peakLimited, true);
});

test('album: one gain for an album (power mean by length, limited by its highest peak); untagged tracks alone', () => {
  const tracks = [
    at(-10, -12, { album: 'A' }),
    at(-20, -12, { album: 'A' }),
    at(-20, -12, { album: 'B', albumArtist: 'X' }),
    at(-20, -12, { album: 'B', albumArtist: 'Y' }),
    at(-26, -12),
  ];
  const g = trackGains(tracks, { normalize: 'album', targetLufs: -16 });
  const albumA = 10 * Math.log10((10 ** -1 + 10 ** -2) / 2);
  assert.ok(Math.abs(g[0]!.sourceLufs! - albumA) < 1e-9);
  assert.equal(g[0]!.gainDb, g[1]!.gainDb);
  assert.equal(g[0]!.gainDb, Math.round((-16 - albumA) * 100) / 100);
  assert.equal(g[2]!.gainDb, 4);
  assert.equal(g[3]!.gainDb, 4, 'same album name, other album artist: another album');
  assert.equal(g[4]!.gainDb, 10);
  const tagged = trackGains([at(-10, -12, { album: 'T', replayGain: { albumGainDb: 3 } }), at(-30, -12, { album: 'T', replayGain: { albumGainDb: 3 } })],
    { normalize: 'album', targetLufs: -18 });
  assert.deepEqual(tagged.map((x) => x.gainDb), [3, 3]);
});

test('settings are validated', () => {
  assert.equal(loudnessSettingsProblem({ normalize: 'track', targetLufs: -23 }), null);
  assert.equal(loudnessSettingsProblem({ normalize: 'loud' as 'off' })?.field, '/normalize');
  assert.equal(loudnessSettingsProblem({ targetLufs: 0 })?.field, '/targetLufs');
  assert.equal(loudnessSettingsProblem({ targetLufs: Number.NaN })?.field, '/targetLufs');
});
