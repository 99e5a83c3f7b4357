// Builds the PortAudio addon with node-gyp. `--optional` (the npm install hook) never fails the
// install: without portaudio19-dev or a compiler the member still runs with its capture sink.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const optional = process.argv.includes('--optional');
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Where distributions put portaudio.h; only used to skip an optional build quickly and clearly.
const PORTAUDIO_HEADERS = ['/usr/include/portaudio.h', '/usr/local/include/portaudio.h'];

function done(ok, message) {
  if (ok) {
    console.log(`@jaudiosync/portaudio: ${message}`);
    process.exit(0);
  }
  console.error(`@jaudiosync/portaudio: ${message}`);
  if (optional) {
    console.error('@jaudiosync/portaudio: continuing without the native addon (capture sink only); ' +
      'fix it, then run `npm run build:native -w packages/portaudio`');
    process.exit(0);
  }
  process.exit(1);
}

if (process.env.JAS_SKIP_NATIVE === '1') done(true, 'native build skipped (JAS_SKIP_NATIVE=1)');
if (optional && !PORTAUDIO_HEADERS.some((p) => existsSync(p))) {
  done(false, 'portaudio.h not found (apt-get install portaudio19-dev)');
}

// npm tells scripts where its bundled node-gyp is; otherwise look beside this node, then PATH.
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => typeof p === 'string' && p !== '' && existsSync(p));
const [command, baseArgs] = candidates[0] !== undefined ? [process.execPath, [candidates[0]]] : ['node-gyp', []];

// Distribution builds of node (Debian) ship matching headers in /usr/include/node: use them
// instead of downloading, unless npm or the user already chose a nodedir.
const args = [...baseArgs, 'rebuild'];
if (!process.env.npm_config_nodedir) {
  const versionHeader = '/usr/include/node/node_version.h';
  if (existsSync(versionHeader)) {
    const text = readFileSync(versionHeader, 'utf8');
    const part = (name) => /#define\s+\w+\s+(\d+)/.exec(text.split('\n').find((l) => l.includes(`define ${name} `)) ?? '')?.[1];
    const version = `v${part('NODE_MAJOR_VERSION')}.${part('NODE_MINOR_VERSION')}.${part('NODE_PATCH_VERSION')}`;
    if (version === process.version) args.push('--nodedir=/usr');
  }
}

const result = spawnSync(command, args, { cwd: packageRoot, stdio: 'inherit' });
if (result.error) done(false, `cannot run node-gyp: ${result.error.message}`);
done(result.status === 0, result.status === 0 ? 'native addon built' : `node-gyp failed (exit ${result.status})`);
