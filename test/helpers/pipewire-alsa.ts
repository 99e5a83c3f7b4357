// PipeWire's own ALSA plugin (the `pipewire` PCM) for tests on a host that also runs PulseAudio.
// Debian's pipewire-alsa cannot be installed beside pulseaudio (apt removes pulseaudio), so
// scripts/setup unpacks the package into PIPEWIRE_ALSA_DIR and tests point ALSA_CONFIG_PATH at a
// config that loads the plugin from there. A host with pipewire-alsa installed needs none of it.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where scripts/setup unpacks pipewire-alsa (dpkg -x). */
export const PIPEWIRE_ALSA_DIR = '/usr/local/lib/jaudiosync-test/pipewire-alsa';
const PCM_PLUGIN = 'libasound_module_pcm_pipewire.so';
const CTL_PLUGIN = 'libasound_module_ctl_pipewire.so';
const SYSTEM_CONF = '/usr/share/alsa/alsa.conf.d/50-pipewire.conf';

/** Finds `name` below `dir` (bounded depth: the package's usr/lib/<triplet>/alsa-lib). */
function findFile(dir: string, name: string, depth = 6): string | undefined {
  if (depth < 0 || !existsSync(dir)) return undefined;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) if (e.isFile() && e.name === name) return join(dir, e.name);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const hit = findFile(join(dir, e.name), name, depth - 1);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

export interface PipewireAlsa {
  /** extra environment for a client (empty when the system's ALSA already has the plugin) */
  env: Record<string, string>;
  /** where the plugin came from */
  source: 'system' | 'unpacked';
}

/**
 * The environment that makes ALSA's `pipewire` PCM available, or a reason why it cannot be. The
 * config is written into `dir` (the test's own temp dir).
 */
export function pipewireAlsa(dir: string): PipewireAlsa | { missing: string } {
  if (existsSync(SYSTEM_CONF) && findFile('/usr/lib', PCM_PLUGIN, 3) !== undefined) return { env: {}, source: 'system' };
  const pcm = findFile(PIPEWIRE_ALSA_DIR, PCM_PLUGIN);
  const conf = findFile(PIPEWIRE_ALSA_DIR, '50-pipewire.conf');
  if (pcm === undefined || conf === undefined) {
    return { missing: `PipeWire's ALSA plugin not found (apt-get install pipewire-alsa, or scripts/setup unpacks it into ${PIPEWIRE_ALSA_DIR})` };
  }
  const ctl = findFile(PIPEWIRE_ALSA_DIR, CTL_PLUGIN);
  const path = join(dir, 'asound-pipewire.conf');
  writeFileSync(path, [
    '</usr/share/alsa/alsa.conf>',
    `pcm_type.pipewire { lib "${pcm}" }`,
    ...(ctl !== undefined ? [`ctl_type.pipewire { lib "${ctl}" }`] : []),
    `<${conf}>`,
    '',
  ].join('\n'));
  return { env: { ALSA_CONFIG_PATH: path }, source: 'unpacked' };
}

/**
 * An ALSA PCM on PipeWire's plugin that opens only at `rate` (the plugin's `rate` setting fixes its
 * hardware rate): a stand-in for a device that cannot do the timeline's rate. Returns the
 * environment (which includes `base`'s) and the PCM's name for `--device`.
 */
export function rateLimitedPipewirePcm(dir: string, base: PipewireAlsa, rate: number): { env: Record<string, string>; device: string } {
  if (!Number.isInteger(rate) || rate < 8000 || rate > 384000) throw new RangeError(`bad rate ${rate}`);
  const device = `jas_only_${rate}`;
  const path = join(dir, `asound-pipewire-${rate}.conf`);
  writeFileSync(path, [
    `<${base.env['ALSA_CONFIG_PATH'] ?? '/usr/share/alsa/alsa.conf'}>`,
    `pcm.${device} {`,
    '  type pipewire',
    `  rate ${rate}`,
    `  hint { show on description "PipeWire, ${rate} Hz only" }`,
    '}',
    '',
  ].join('\n'));
  return { env: { ...base.env, ALSA_CONFIG_PATH: path }, device };
}
