// The member daemon's configuration: defaults, JSON config file, environment variables and CLI
// flags (later sources override earlier ones), validated with errors that name the key.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AVAHI_SERVICE_FILE } from '../link/avahi-paths.js';
import { KeyFormatError, parseKey, requireKeyInProduction, type AuthKey } from '@jaudiosync/protocol/auth-key';

export type SinkKind = 'portaudio' | 'capture' | 'none';
export type ChannelMode = 'stereo' | 'mono' | 'left' | 'right';

export interface MemberConfig {
  id: string;
  listenHost: string;
  port: number;
  mdns: boolean;
  /** avahi-daemon's static service file for this member (used when avahi runs on this host). */
  avahiServiceFile: string;
  sink: SinkKind;
  /** Native library of the `portaudio` sink: PortAudio, PulseAudio's own (raw server timing), or chosen at start (audio/output-api.ts). */
  audioApi: 'auto' | 'portaudio' | 'pulse';
  device: string | undefined;
  outputRate: number;
  /** Rate the output device is opened at; 0 = the timeline's rate if the device takes it, else one it does. */
  deviceRate: number;
  captureFile: string | undefined;
  capturePpm: number;
  captureLatencyMs: number;
  cacheDir: string;
  cacheMaxMb: number;
  stateDir: string;
  /** State valid only until reboot (the clock memory); undefined = stateDir. */
  runtimeDir: string | undefined;
  clock: 'leader' | 'system';
  leader: string | undefined;
  ntpPort: number;
  bufferMs: number;
  outputLatencyMs: number;
  logLevel: string;
  /** The group's shared key (docs/security.md); undefined = unauthenticated development mode. */
  key: AuthKey | undefined;
  /** File the key was read from (alternative to `key`). */
  keyFile: string | undefined;
}

interface OptionSpec {
  key: keyof MemberConfig;
  flag: string;
  env: string;
  kind: 'string' | 'int' | 'number' | 'bool' | 'enum' | 'key';
  values?: readonly string[];
  min?: number;
  max?: number;
  help: string;
}

export const MEMBER_OPTIONS: readonly OptionSpec[] = [
  { key: 'id', flag: '--id', env: 'JAS_MEMBER_ID', kind: 'string', help: 'member id shown by the leader (default: the hostname)' },
  { key: 'listenHost', flag: '--listen-host', env: 'JAS_LISTEN_HOST', kind: 'string', help: 'address the WebSocket server binds' },
  { key: 'port', flag: '--port', env: 'JAS_PORT', kind: 'int', min: 1, max: 65535, help: 'WebSocket port the leader connects to' },
  { key: 'mdns', flag: '--mdns', env: 'JAS_MDNS', kind: 'bool', help: 'advertise this member over mDNS (--no-mdns to disable): through avahi-daemon when it runs, else by itself' },
  { key: 'avahiServiceFile', flag: '--avahi-service-file', env: 'JAS_AVAHI_SERVICE_FILE', kind: 'string', help: "avahi-daemon's service file for this member (see --write-avahi-service)" },
  { key: 'sink', flag: '--sink', env: 'JAS_SINK', kind: 'enum', values: ['portaudio', 'capture', 'none'], help: 'audio output: PortAudio device, capture (simulated DAC writing a file), none' },
  { key: 'audioApi', flag: '--audio-api', env: 'JAS_AUDIO_API', kind: 'enum', values: ['auto', 'portaudio', 'pulse'], help: "library of the portaudio sink: 'pulse' (PulseAudio or pipewire-pulse directly: the server's raw timing, sample-tight where the ALSA pulse device's smoothed estimate wanders), 'portaudio' (any ALSA device), or 'auto': pulse when no --device is named, a PulseAudio server answers and it is not PipeWire with its own ALSA device" },
  { key: 'device', flag: '--device', env: 'JAS_DEVICE', kind: 'string', help: "output device: PortAudio index or name substring; with --audio-api pulse, the sink's name (default: the default device or sink)" },
  { key: 'outputRate', flag: '--output-rate', env: 'JAS_OUTPUT_RATE', kind: 'int', min: 8000, max: 192000, help: 'output sample rate in Hz (must match the leader)' },
  { key: 'deviceRate', flag: '--device-rate', env: 'JAS_DEVICE_RATE', kind: 'int', min: 0, max: 192000, help: 'rate the PortAudio device is opened at (0: the output rate if the device takes it, else one it does); the engine resamples to it' },
  { key: 'captureFile', flag: '--capture-file', env: 'JAS_CAPTURE_FILE', kind: 'string', help: 'capture sink: file that records what was played with true times' },
  { key: 'capturePpm', flag: '--capture-ppm', env: 'JAS_CAPTURE_PPM', kind: 'number', min: -2000, max: 2000, help: 'capture sink: DAC rate error in ppm' },
  { key: 'captureLatencyMs', flag: '--capture-latency-ms', env: 'JAS_CAPTURE_LATENCY_MS', kind: 'number', min: 0, max: 2000, help: 'capture sink: output latency in ms' },
  { key: 'cacheDir', flag: '--cache-dir', env: 'JAS_CACHE_DIR', kind: 'string', help: 'directory for cached track files (decoded tracks stream from its decoded/ subdirectory)' },
  { key: 'cacheMaxMb', flag: '--cache-max-mb', env: 'JAS_CACHE_MAX_MB', kind: 'int', min: 16, max: 1_000_000, help: 'cache size bound in MiB, for fetched tracks and, separately, for decoded tracks kept in <cache-dir>/decoded (least recently used files are evicted)' },
  { key: 'stateDir', flag: '--state-dir', env: 'JAS_STATE_DIR', kind: 'string', help: 'directory for persisted member settings' },
  { key: 'runtimeDir', flag: '--runtime-dir', env: 'JAS_RUNTIME_DIR', kind: 'string', help: 'directory for state valid until reboot: the clock memory that lets a restarted member sync at once (default: the state directory; a tmpfs such as /run spares an SD card)' },
  { key: 'clock', flag: '--clock', env: 'JAS_CLOCK', kind: 'enum', values: ['leader', 'system'], help: "time reference: 'leader' (NTP to the leader) or 'system' (trust this host's clock)" },
  { key: 'leader', flag: '--leader', env: 'JAS_LEADER_HOST', kind: 'string', help: 'leader host to sync the clock with before it connects (optional; normally learned from the connection)' },
  { key: 'ntpPort', flag: '--ntp-port', env: 'JAS_NTP_PORT', kind: 'int', min: 1, max: 65535, help: 'leader NTP port used with --leader' },
  { key: 'bufferMs', flag: '--buffer-ms', env: 'JAS_BUFFER_MS', kind: 'int', min: 20, max: 2000, help: 'how far ahead of the DAC the engine renders' },
  { key: 'outputLatencyMs', flag: '--output-latency-ms', env: 'JAS_OUTPUT_LATENCY_MS', kind: 'int', min: 5, max: 1000, help: 'PortAudio suggested output latency: a deeper device buffer survives a loaded host (timing is measured, so it costs no sync)' },
  { key: 'logLevel', flag: '--log-level', env: 'JAS_LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], help: 'log level' },
  { key: 'key', flag: '--key', env: 'JAS_KEY', kind: 'key', help: 'shared key jas1_... of the group (same on the leader); prefer the config file or JAS_KEY: a flag shows in ps' },
  { key: 'keyFile', flag: '--key-file', env: 'JAS_KEY_FILE', kind: 'string', help: 'file holding the shared key (instead of key)' },
];

export function defaultMemberConfig(): MemberConfig {
  const home = process.env['HOME'] ?? '/tmp';
  return {
    id: sanitizeId(hostname()),
    listenHost: '0.0.0.0',
    port: 7701,
    mdns: true,
    avahiServiceFile: AVAHI_SERVICE_FILE,
    sink: 'portaudio',
    audioApi: 'auto',
    device: undefined,
    outputRate: 48000,
    deviceRate: 0,
    captureFile: undefined,
    capturePpm: 0,
    captureLatencyMs: 20,
    cacheDir: join(home, '.cache', 'jaudiosync', 'tracks'),
    cacheMaxMb: 512,
    stateDir: join(home, '.local', 'state', 'jaudiosync-member'),
    runtimeDir: undefined,
    clock: 'leader',
    leader: undefined,
    ntpPort: 11123,
    bufferMs: 120,
    outputLatencyMs: 50,
    logLevel: 'info',
    key: undefined,
    keyFile: undefined,
  };
}

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`config ${key}: ${message}`);
  }
}

function sanitizeId(name: string): string {
  const id = name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return id.length > 0 ? id : 'member';
}

function coerce(spec: OptionSpec, raw: unknown, source: string): unknown {
  const where = `${spec.key} (${source})`;
  switch (spec.kind) {
    case 'key':
      try {
        return parseKey(raw);
      } catch (err) {
        if (err instanceof KeyFormatError) throw new ConfigError(where, err.message);
        throw err;
      }
    case 'string':
      if (typeof raw !== 'string' || raw.length === 0 || raw.length > 4096) throw new ConfigError(where, 'must be a non-empty string');
      return raw;
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new ConfigError(where, `must be true or false, got ${JSON.stringify(raw)}`);
    case 'enum':
      if (typeof raw !== 'string' || !spec.values?.includes(raw)) {
        throw new ConfigError(where, `must be one of ${spec.values?.join(', ')}, got ${JSON.stringify(raw)}`);
      }
      return raw;
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new ConfigError(where, `must be a number, got ${JSON.stringify(raw)}`);
      if (spec.kind === 'int' && !Number.isInteger(n)) throw new ConfigError(where, `must be an integer, got ${n}`);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new ConfigError(where, `must be within ${spec.min}..${spec.max}, got ${n}`);
      }
      return n;
    }
  }
}

export interface ParsedArgs {
  config: MemberConfig;
  help: boolean;
  listDevices: boolean;
  writeAvahiService: boolean;
}

/** Merges defaults < config file (--config or JAS_MEMBER_CONFIG) < environment < CLI flags. */
export function loadMemberConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const config = defaultMemberConfig() as unknown as Record<string, unknown>;
  let help = false;
  let listDevices = false;
  let writeAvahiService = false;
  let configPath = env['JAS_MEMBER_CONFIG'];
  const flags: Array<[OptionSpec, unknown]> = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') { help = true; continue; }
    if (arg === '--list-devices') { listDevices = true; continue; }
    if (arg === '--write-avahi-service') { writeAvahiService = true; continue; }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name === '--config') {
      configPath = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (configPath === undefined) throw new ConfigError('config', 'missing file name');
      continue;
    }
    if (name.startsWith('--no-')) {
      const spec = MEMBER_OPTIONS.find((o) => o.flag === `--${name.slice(5)}` && o.kind === 'bool');
      if (!spec) throw new ConfigError(name, 'unknown option (see --help)');
      flags.push([spec, false]);
      continue;
    }
    const spec = MEMBER_OPTIONS.find((o) => o.flag === name);
    if (!spec) throw new ConfigError(name, 'unknown option (see --help)');
    if (spec.kind === 'bool' && eq < 0) { flags.push([spec, true]); continue; }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(name, 'missing value');
    flags.push([spec, value]);
  }
  if (configPath) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw new ConfigError('config', `cannot read ${configPath}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('config', `${configPath} must hold a JSON object`);
    for (const [key, value] of Object.entries(parsed)) {
      const spec = MEMBER_OPTIONS.find((o) => o.key === key);
      if (!spec) throw new ConfigError(key, `unknown key in ${configPath}`);
      config[key] = coerce(spec, value, configPath);
    }
  }
  for (const spec of MEMBER_OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== '') config[spec.key] = coerce(spec, value, spec.env);
  }
  for (const [spec, value] of flags) config[spec.key] = coerce(spec, value, spec.flag);
  const result = config as unknown as MemberConfig;
  if (result.deviceRate !== 0 && result.deviceRate < 8000) throw new ConfigError('deviceRate', `must be 0 (automatic) or within 8000..192000, got ${result.deviceRate}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(result.id)) throw new ConfigError('id', 'must be 1-64 of A-Z a-z 0-9 . _ -');
  resolveKey(result, env);
  return { config: result, help, listDevices, writeAvahiService };
}

const KEY_SPEC = MEMBER_OPTIONS.find((o) => o.key === 'key') as OptionSpec;

/** Reads `keyFile` into `key`; with NODE_ENV=production a key is mandatory (exit 2 via ConfigError). */
function resolveKey(config: MemberConfig, env: NodeJS.ProcessEnv): void {
  if (config.keyFile !== undefined) {
    if (config.key !== undefined) throw new ConfigError('keyFile', 'give either key (JAS_KEY, --key) or keyFile (JAS_KEY_FILE, --key-file), not both');
    let text: string;
    try {
      text = readFileSync(config.keyFile, 'utf8');
    } catch (err) {
      throw new ConfigError('keyFile', `cannot read ${config.keyFile}: ${(err as Error).message}`);
    }
    config.key = coerce(KEY_SPEC, text, config.keyFile) as AuthKey;
  }
  if (config.key === undefined) {
    const refusal = requireKeyInProduction({ key: undefined, env, role: 'member' });
    if (refusal !== null) throw new ConfigError('key', refusal);
  }
}

export function memberHelp(): string {
  const d = defaultMemberConfig() as unknown as Record<string, unknown>;
  const lines = [
    'Usage: jaudiosync-member [options]',
    '',
    'Plays the leader\'s timeline in sync. Options (env variable in brackets, default after =):',
    '  --config FILE                JSON config file [JAS_MEMBER_CONFIG]',
    '  --list-devices               list PortAudio output devices and exit',
    '  --write-avahi-service        write avahi-daemon\'s service file for this member from the config',
    '                               (id, port) and exit; nothing to do without avahi (run as root)',
    '  --help                       this text',
  ];
  for (const o of MEMBER_OPTIONS) {
    const arg = o.kind === 'bool' ? '' : o.kind === 'enum' ? ` ${o.values?.join('|')}` : o.kind === 'key' ? ' KEY' : ` ${o.kind === 'string' ? 'VALUE' : 'N'}`;
    const def = d[o.key];
    lines.push(`  ${(o.flag + arg).padEnd(28)} ${o.help} [${o.env}]${def === undefined ? '' : ` = ${String(def)}`}`);
  }
  return lines.join('\n');
}
