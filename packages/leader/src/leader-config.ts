// The leader's configuration: defaults, a JSON config file, and command-line flags (flags win).
// Every option is listed once in OPTIONS, which also produces --help. The shared key may also come
// from the environment (JAS_KEY, JAS_KEY_FILE), and is mandatory with NODE_ENV=production.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyFormatError, parseKey, requireKeyInProduction, type AuthKey } from '@jaudiosync/protocol/auth';
import { DEFAULT_MEMBER_PATTERN, parseEndpoint } from './members/discovery.js';
import { DEFAULT_TARGET_LUFS, loudnessSettingsProblem, type NormalizeMode } from './playlist/loudness-gain.js';

export interface LeaderConfig {
  playlist?: string;
  musicDir?: string;
  httpPort: number;
  ntpPort: number;
  host: string;
  stateDir: string;
  memberPattern: string;
  members: string[];
  minLeadMs: number;
  outputRate: number;
  leaderId: string;
  mdns: boolean;
  loop: boolean;
  /** PUT /api/clock sets the system clock (needs CAP_SYS_TIME); otherwise the leader keeps an offset. */
  setSystemClock: boolean;
  /** Loudness normalization at first start (REST changes it later; the saved state keeps it). */
  normalize: NormalizeMode;
  targetLufs: number;
  /** Crossfade between consecutive tracks at first start, ms (0: gapless). */
  crossfadeMs: number;
  logLevel: string;
  /** The group's shared key (docs/security.md); undefined = unauthenticated development mode. */
  key?: AuthKey;
  /** File the key was read from (alternative to `key`). */
  keyFile?: string;
}

interface OptionSpec {
  flag: string;
  key: keyof LeaderConfig | 'config' | 'help';
  kind: 'string' | 'int' | 'bool' | 'list' | 'key';
  help: string;
  default?: string;
}

export const OPTIONS: OptionSpec[] = [
  { flag: '--playlist', key: 'playlist', kind: 'string', help: 'm3u/m3u8 playlist to load at start (unless a saved state exists)' },
  { flag: '--music-dir', key: 'musicDir', kind: 'string', help: 'directory that uploaded playlists and relative playlist paths resolve against', default: 'current directory' },
  { flag: '--http-port', key: 'httpPort', kind: 'int', help: 'REST API, events, /tracks', default: '7700' },
  { flag: '--ntp-port', key: 'ntpPort', kind: 'int', help: 'UDP port of the NTP server members sync to', default: '11123' },
  { flag: '--host', key: 'host', kind: 'string', help: 'address to bind HTTP and NTP to', default: '0.0.0.0' },
  { flag: '--state-dir', key: 'stateDir', kind: 'string', help: 'where the timeline, settings and track cache are saved', default: '$XDG_STATE_HOME/jaudiosync-leader or ~/.local/state/jaudiosync-leader' },
  { flag: '--member-pattern', key: 'memberPattern', kind: 'string', help: 'regular expression; mDNS members whose host name (or id) matches are used', default: DEFAULT_MEMBER_PATTERN },
  { flag: '--member', key: 'members', kind: 'list', help: 'member address host[:port] to connect to without mDNS (repeatable)', default: 'none' },
  { flag: '--min-lead-ms', key: 'minLeadMs', kind: 'int', help: 'minimum time between a command and when it takes effect', default: '250' },
  { flag: '--output-rate', key: 'outputRate', kind: 'int', help: 'common output sample rate (Hz) of the timeline', default: '48000' },
  { flag: '--leader-id', key: 'leaderId', kind: 'string', help: 'id of this leader sent in welcome', default: 'host name' },
  { flag: '--no-mdns', key: 'mdns', kind: 'bool', help: 'do not browse mDNS (use --member only)' },
  { flag: '--loop', key: 'loop', kind: 'bool', help: 'repeat all: wrap to the first track after the last one (PUT /api/repeat changes it)' },
  { flag: '--set-system-clock', key: 'setSystemClock', kind: 'bool', help: 'PUT /api/clock sets the system clock (needs CAP_SYS_TIME, as the systemd unit grants); otherwise the leader keeps the phone\'s time as an offset' },
  { flag: '--normalize', key: 'normalize', kind: 'string', help: 'loudness normalization at first start: off, track or album (later: PUT /api/loudness)', default: 'off' },
  { flag: '--target-lufs', key: 'targetLufs', kind: 'int', help: 'loudness normalization target, LUFS (-40..-5)', default: String(DEFAULT_TARGET_LUFS) },
  { flag: '--crossfade-ms', key: 'crossfadeMs', kind: 'int', help: 'crossfade between consecutive tracks at first start, 0..12000 ms (later: PUT /api/crossfade)', default: '0 (gapless)' },
  { flag: '--log-level', key: 'logLevel', kind: 'string', help: 'pino level: trace, debug, info, warn, error', default: 'info' },
  { flag: '--key', key: 'key', kind: 'key', help: 'shared key jas1_... of the group (env JAS_KEY; prefer the config file or JAS_KEY: a flag shows in ps)', default: 'none (refused with NODE_ENV=production)' },
  { flag: '--key-file', key: 'keyFile', kind: 'string', help: 'file holding the shared key (env JAS_KEY_FILE)' },
  { flag: '--config', key: 'config', kind: 'string', help: 'JSON file with any of these options (camelCase keys, e.g. {"httpPort": 7700, "members": ["10.0.0.5:7701"]})' },
  { flag: '--help', key: 'help', kind: 'bool', help: 'print this help' },
];

export function defaultStateDir(): string {
  const base = process.env['XDG_STATE_HOME'] ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'jaudiosync-leader');
}

export function defaultConfig(): LeaderConfig {
  return {
    httpPort: 7700, ntpPort: 11123, host: '0.0.0.0', stateDir: defaultStateDir(), memberPattern: DEFAULT_MEMBER_PATTERN,
    members: [], minLeadMs: 250, outputRate: 48000, leaderId: sanitizeId(os.hostname()), mdns: true, loop: false, setSystemClock: false,
    normalize: 'off', targetLufs: DEFAULT_TARGET_LUFS, crossfadeMs: 0, logLevel: 'info',
  };
}

function sanitizeId(text: string): string {
  const id = text.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return id === '' ? 'leader' : id;
}

/**
 * Environment variable of an option: JAS_ + the flag in capitals (`--http-port` -> JAS_HTTP_PORT,
 * `--no-mdns` -> JAS_NO_MDNS=1, `--member` -> JAS_MEMBERS, comma-separated). `--config` is
 * JAS_LEADER_CONFIG; the key's own (JAS_KEY, JAS_KEY_FILE) are read with the key.
 */
export function envNameOf(o: OptionSpec): string | undefined {
  if (o.key === 'help' || o.kind === 'key' || o.key === 'keyFile') return undefined;
  if (o.key === 'config') return 'JAS_LEADER_CONFIG';
  if (o.key === 'members') return 'JAS_MEMBERS';
  return `JAS_${o.flag.slice(2).toUpperCase().replace(/-/g, '_')}`;
}

export function helpText(): string {
  const lines = ['Usage: jaudiosync-leader [options]', '', 'Options (environment variable in brackets; flags win over it, it wins over --config):'];
  for (const o of OPTIONS) {
    const arg = o.kind === 'bool' ? '' : o.kind === 'int' ? ' N' : o.kind === 'key' ? ' KEY' : ' VALUE';
    const env = envNameOf(o);
    lines.push(`  ${(o.flag + arg).padEnd(24)} ${o.help}${env ? ` [${env}]` : ''}${o.default !== undefined ? ` (default: ${o.default})` : ''}`);
  }
  return lines.join('\n');
}

/** Options given through the environment, as the flags would give them. */
function optionsFromEnv(env: NodeJS.ProcessEnv): Partial<Record<string, unknown>> {
  const out: Partial<Record<string, unknown>> = {};
  for (const o of OPTIONS) {
    const name = envNameOf(o);
    const value = name === undefined || o.key === 'config' ? undefined : env[name];
    if (value === undefined || value === '') continue;
    if (o.kind === 'bool') {
      if (!/^(1|true|yes|0|false|no)$/i.test(value)) throw new ConfigError(`${name}: expected 1/true/yes or 0/false/no, got ${JSON.stringify(value)}`);
      const on = /^(1|true|yes)$/i.test(value);
      if (o.key === 'mdns') out['mdns'] = !on; // JAS_NO_MDNS=1
      else out[o.key] = on;
    } else if (o.kind === 'list') out[o.key] = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
    else out[o.key] = o.kind === 'int' ? toInt(name as string, value) : value;
  }
  return out;
}

export class ConfigError extends Error {}

/**
 * Parses argv (without node and script) into a config; `help: true` when --help was given.
 * Precedence: defaults < config file (--config or JAS_LEADER_CONFIG) < environment < flags.
 */
export function parseLeaderArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): { config: LeaderConfig; help: boolean } {
  const flags: Partial<Record<string, unknown>> = {};
  let configFile: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = OPTIONS.find((o) => o.flag === name);
    if (!spec) throw new ConfigError(`unknown option ${arg} (see --help)`);
    if (spec.kind === 'bool') {
      if (spec.key === 'help') help = true;
      else if (spec.key === 'mdns') flags['mdns'] = false;
      else flags[spec.key] = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${name} needs a value`);
    if (spec.key === 'config') configFile = value;
    else if (spec.kind === 'list') ((flags[spec.key] ??= []) as string[]).push(value);
    else if (spec.kind === 'key') flags[spec.key] = toKey(name, value);
    else flags[spec.key] = spec.kind === 'int' ? toInt(name, value) : value;
  }
  configFile ??= env['JAS_LEADER_CONFIG'] || undefined;
  const config = defaultConfig();
  if (configFile !== undefined) Object.assign(config, readConfigFile(configFile));
  Object.assign(config, optionsFromEnv(env));
  const envKey = env['JAS_KEY'];
  const envKeyFile = env['JAS_KEY_FILE'];
  if (envKey !== undefined && envKey !== '') config.key = toKey('JAS_KEY', envKey);
  if (envKeyFile !== undefined && envKeyFile !== '') config.keyFile = envKeyFile;
  Object.assign(config, flags);
  validateConfig(config);
  if (help) return { config, help };
  resolveKey(config, env);
  return { config, help };
}

function toKey(name: string, value: unknown): AuthKey {
  try {
    return parseKey(value);
  } catch (err) {
    if (err instanceof KeyFormatError) throw new ConfigError(`${name}: ${err.message}`);
    throw err;
  }
}

/** Reads `keyFile` into `key`; with NODE_ENV=production a key is mandatory. */
function resolveKey(config: LeaderConfig, env: NodeJS.ProcessEnv): void {
  if (config.keyFile !== undefined) {
    if (config.key !== undefined) throw new ConfigError('key: give either key (JAS_KEY, --key) or keyFile (JAS_KEY_FILE, --key-file), not both');
    let text: string;
    try {
      text = readFileSync(config.keyFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`keyFile: cannot read ${config.keyFile}: ${(err as Error).message}`);
    }
    config.key = toKey(`key file ${config.keyFile}`, text);
  }
  if (config.key === undefined) {
    const refusal = requireKeyInProduction({ key: undefined, env, role: 'leader' });
    if (refusal !== null) throw new ConfigError(refusal);
  }
}

function toInt(name: string, value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`${name}: integer expected, got ${JSON.stringify(value)}`);
  return n;
}

export function readConfigFile(file: string): Partial<LeaderConfig> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigError(`config ${file}: a JSON object expected`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    const spec = OPTIONS.find((o) => o.key === key && o.key !== 'config' && o.key !== 'help');
    if (!spec) throw new ConfigError(`config ${file}: unknown key "${key}"`);
    if (spec.kind === 'int') out[key] = toInt(key, value);
    else if (spec.kind === 'key') out[key] = toKey(`config ${file}: "${key}"`, value);
    else if (spec.kind === 'bool') {
      if (typeof value !== 'boolean') throw new ConfigError(`config ${file}: "${key}" must be true or false`);
      out[key] = value;
    } else if (spec.kind === 'list') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ConfigError(`config ${file}: "${key}" must be an array of strings`);
      out[key] = value;
    } else {
      if (typeof value !== 'string') throw new ConfigError(`config ${file}: "${key}" must be a string`);
      out[key] = value;
    }
  }
  return out as Partial<LeaderConfig>;
}

export function validateConfig(c: LeaderConfig): void {
  const port = (name: string, p: number): void => {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new ConfigError(`${name}: port 0-65535 expected, got ${p}`);
  };
  port('--http-port', c.httpPort);
  port('--ntp-port', c.ntpPort);
  if (!Number.isInteger(c.minLeadMs) || c.minLeadMs < 10 || c.minLeadMs > 60_000) throw new ConfigError('--min-lead-ms: 10..60000 expected');
  if (!Number.isInteger(c.outputRate) || c.outputRate < 8000 || c.outputRate > 384_000) throw new ConfigError('--output-rate: 8000..384000 expected');
  try {
    new RegExp(c.memberPattern);
  } catch (err) {
    throw new ConfigError(`--member-pattern: ${(err as Error).message}`);
  }
  for (const m of c.members) {
    try {
      parseEndpoint(m);
    } catch (err) {
      throw new ConfigError(`--member: ${(err as Error).message}`);
    }
  }
  const loudness = loudnessSettingsProblem({ normalize: c.normalize, targetLufs: c.targetLufs });
  if (loudness !== null) throw new ConfigError(`--${loudness.field === '/normalize' ? 'normalize' : 'target-lufs'}: ${loudness.detail}`);
  if (!Number.isInteger(c.crossfadeMs) || c.crossfadeMs < 0 || c.crossfadeMs > 12_000) throw new ConfigError('--crossfade-ms: 0..12000 expected');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(c.leaderId)) throw new ConfigError('--leader-id: 1-64 of A-Z a-z 0-9 . _ - expected');
}
