// Builds the native addon of the workspace package in the current directory with node-gyp (npm
// runs a package's scripts there). `--optional` (the npm install hook) never fails the install: each
// addon has a fallback (PortAudio: the capture sink; netstamp: user-space timestamps).
//   node ../../scripts/build-native-addon.mjs [--optional] [--needs-header NAME.h --apt PACKAGE]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const optional = argv.includes('--optional');
const valueOf = (flag) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const neededHeader = valueOf('--needs-header');
const aptPackage = valueOf('--apt');
const packageRoot = process.cwd();
if (!existsSync(path.join(packageRoot, 'binding.gyp'))) {
  console.error(`build-native-addon: no binding.gyp in ${packageRoot} (run it from a package directory)`);
  process.exit(1);
}
const name = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).name;
const relativeRoot = path.relative(path.resolve(packageRoot, '..', '..'), packageRoot);

function done(ok, message) {
  if (ok) {
    console.log(`${name}: ${message}`);
    process.exit(0);
  }
  console.error(`${name}: ${message}`);
  if (optional) {
    console.error(`${name}: continuing without the native addon; fix it, then run \`npm run build:native -w ${relativeRoot}\``);
    process.exit(0);
  }
  process.exit(1);
}

if (process.env.JAS_SKIP_NATIVE === '1') done(true, 'native build skipped (JAS_SKIP_NATIVE=1)');
// Where distributions put headers; only used to skip an optional build quickly and clearly.
if (optional && neededHeader !== undefined && !['/usr/include', '/usr/local/include'].some((d) => existsSync(path.join(d, neededHeader)))) {
  done(false, `${neededHeader} not found${aptPackage ? ` (apt-get install ${aptPackage})` : ''}`);
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
