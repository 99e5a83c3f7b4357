// The loudness deps of the REST routes for tests that do not exercise them: normalization off.
import type { RestDeps } from '../../src/http/rest-routes.js';

export function loudnessOff(): Pick<RestDeps, 'loudness' | 'loudnessSettings' | 'setLoudness'> {
  const settings = { normalize: 'off' as const, targetLufs: -16 };
  return {
    loudness: () => ({ ...settings, tracks: [] }),
    loudnessSettings: () => ({ ...settings }),
    setLoudness: () => ({ ...settings, rev: null, atUs: null, at: null }),
  };
}
