// `jaudiosync keygen`: makes the group's shared key, or shows/checks an existing one (same options
// and output as scripts/keygen: protocol's formatKeygenOutput). I/O is injected for tests.
import { formatKeygenOutput, parseKey, type KeygenFormat } from '@jaudiosync/protocol/auth';

export const KEYGEN_HELP = `Usage: jaudiosync keygen [--json | --key-only | --token-only] [--show KEY | --check KEY | --config FILE]

  (no option)     make a new key; print it, its fingerprint, its REST token and where to put it
  --key-only      print only the key (for scripts: KEY=$(jaudiosync keygen --key-only))
  --token-only    print only the REST token (for curl: Authorization: Bearer <token>)
  --json          print {"key", "fingerprint", "restToken"}
  --show KEY      use an existing key instead of a new one ("-" reads it from stdin, which
                  keeps it out of the process list)
  --check KEY     exit 0 and print the fingerprint if KEY is valid, else exit 1 with the reason
  --config FILE   use the "key" of a JSON config file, e.g. /etc/jaudiosync/leader.json
`;

export interface KeygenIo {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
}

/** Runs `keygen ...` (argv after "keygen"); returns the exit code (0 ok, 1 bad key, 2 usage). */
export async function runKeygen(args: string[], io: KeygenIo): Promise<number> {
  let format: KeygenFormat = 'text';
  let keyArg: string | undefined;
  let configFile: string | undefined;
  let check = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    switch (a) {
      case '--json': format = 'json'; break;
      case '--key-only': format = 'key'; break;
      case '--token-only': format = 'token'; break;
      case '-h': case '--help':
        io.out(KEYGEN_HELP);
        return 0;
      case '--show': case '--check': case '--config': {
        const value = args[++i];
        if (value === undefined) {
          io.err(`jaudiosync keygen: ${a} needs a value\n`);
          return 2;
        }
        if (a === '--config') configFile = value;
        else keyArg = value;
        if (a === '--check') check = true;
        break;
      }
      default:
        io.err(`jaudiosync keygen: unknown option ${a} (see --help)\n`);
        return 2;
    }
  }
  try {
    let keyText = keyArg === '-' ? (await io.readStdin()).split('\n')[0] ?? '' : keyArg;
    if (configFile !== undefined) {
      const config = JSON.parse(await io.readFile(configFile)) as unknown;
      const fromFile = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)['key'] : undefined;
      if (typeof fromFile !== 'string') throw new Error(`${configFile} has no "key"`);
      keyText = fromFile;
    }
    if (check) {
      io.out(`key ok, fingerprint ${parseKey(keyText).fingerprint}\n`);
      return 0;
    }
    io.out(formatKeygenOutput(keyText, format));
    return 0;
  } catch (err) {
    io.err(`jaudiosync keygen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
