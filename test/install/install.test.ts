// Keeps the deployment from rotting: the systemd units verify and stay hardened and in step with
// the daemons' options, and scripts/install (dry run and a real run into a throwaway root)
// writes exactly the user, app, config with a shared key, unit and enablement it promises.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parseKey, restToken } from '@jaudiosync/protocol/auth';
import { LEADER_NODE_FLAGS } from '@jaudiosync/leader/node-flags';
import { MEMBER_NODE_FLAGS } from '@jaudiosync/member/node-flags';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const INSTALL = path.join(REPO, 'scripts', 'install');
const KEYGEN = path.join(REPO, 'scripts', 'keygen');
const ROLES = ['leader', 'member'] as const;
type Role = (typeof ROLES)[number];
/** systemd-analyze security exposure (0 = locked down, 10 = none); ours are ~2, a regression shows. */
const MAX_EXPOSURE = 3.0;
/** Generous: a prebuilt install copies ~90 MB on a loaded machine. */
const INSTALL_TIMEOUT_MS = 120_000;

const unitPath = (role: Role): string => path.join(REPO, 'systemd', `jaudiosync-${role}.service`);

interface Run { status: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], input?: string): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, input, env: { ...process.env, LC_ALL: 'C' } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** All `Key=value` lines of a unit file (comments and sections dropped), in order. */
function unitEntries(text: string): Array<[string, string]> {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('['))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]);
}
function values(text: string, key: string): string[] {
  return unitEntries(text).filter(([k]) => k === key).map(([, v]) => v);
}
function one(text: string, key: string): string {
  const v = values(text, key);
  assert.equal(v.length, 1, `exactly one ${key}= expected, got ${JSON.stringify(v)}`);
  return v[0] as string;
}

function verifyUnit(file: string): void {
  const r = run('systemd-analyze', ['verify', file]);
  assert.equal(r.status, 0, r.stderr);
  // Warnings (unknown keys, bad values) do not change the exit status: treat them as failures.
  assert.equal(r.stderr.trim(), '', `systemd-analyze verify ${file} complained:\n${r.stderr}`);
}

describe('systemd units', () => {
  for (const role of ROLES) {
    test(`${role}: systemd-analyze verify passes without warnings`, () => verifyUnit(unitPath(role)));

    test(`${role}: exposure stays low (systemd-analyze security --offline)`, () => {
      const r = run('systemd-analyze', ['security', '--offline=true', '--no-pager', unitPath(role)]);
      const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
      assert.ok(m, r.stdout + r.stderr);
      assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]} > ${MAX_EXPOSURE}:\n${r.stdout}`);
    });

    test(`${role}: boots unattended, unprivileged, production mode, restarts, journal`, () => {
      const text = readFileSync(unitPath(role), 'utf8');
      assert.equal(one(text, 'WantedBy'), 'multi-user.target');
      assert.match(one(text, 'After'), /network-online\.target/);
      assert.match(one(text, 'Wants'), /network-online\.target/);
      assert.equal(one(text, 'User'), 'jaudiosync');
      assert.equal(one(text, 'Restart'), 'on-failure');
      assert.equal(one(text, 'RestartPreventExitStatus'), '2');
      assert.equal(one(text, 'NoNewPrivileges'), 'yes');
      assert.equal(one(text, 'ProtectSystem'), 'strict');
      assert.ok(values(text, 'Environment').includes('NODE_ENV=production'));
      // Logs go to the journal: nothing redirects stdout/stderr elsewhere.
      assert.deepEqual(values(text, 'StandardOutput'), []);
      assert.deepEqual(values(text, 'StandardError'), []);
      assert.deepEqual(values(text, 'MemoryDenyWriteExecute'), [], 'V8 needs W+X pages');
      // ExecStart runs the package's declared bin from /opt/jaudiosync.
      const pkg = JSON.parse(readFileSync(path.join(REPO, 'packages', role, 'package.json'), 'utf8')) as { bin: Record<string, string> };
      const bin = pkg.bin[`jaudiosync-${role}`];
      assert.ok(bin);
      const exec = one(text, 'ExecStart').split(/\s+/);
      assert.equal(exec[0], '/usr/bin/node');
      // The daemons' node options (packages/{member,leader}/src/node-flags.ts).
      const nodeFlags = role === 'member' ? MEMBER_NODE_FLAGS : LEADER_NODE_FLAGS;
      assert.deepEqual(exec.slice(1, 1 + nodeFlags.length), nodeFlags);
      assert.equal(exec[1 + nodeFlags.length], path.posix.join('/opt/jaudiosync/packages', role, bin));
    });
  }

  test('leader: only CAP_NET_BIND_SERVICE (NTP on 123) and CAP_SYS_TIME (the clock from a phone), and flags the leader knows', async () => {
    const text = readFileSync(unitPath('leader'), 'utf8');
    assert.equal(one(text, 'AmbientCapabilities'), 'CAP_NET_BIND_SERVICE CAP_SYS_TIME');
    assert.equal(one(text, 'CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE CAP_SYS_TIME');
    assert.equal(one(text, 'PrivateDevices'), 'yes');
    // Setting the clock needs clock_settime allowed and not hidden by ProtectClock.
    assert.match(one(text, 'SystemCallFilter'), /(^| )@clock( |$)/);
    assert.equal(values(text, 'ProtectClock').length, 0);
    const exec = one(text, 'ExecStart').split(/\s+/).slice(2 + LEADER_NODE_FLAGS.length);
    assert.deepEqual(exec.slice(exec.indexOf('--ntp-port'), exec.indexOf('--ntp-port') + 2), ['--ntp-port', '123']);
    assert.ok(exec.includes('--set-system-clock'), 'PUT /api/clock sets the system clock under systemd');
    assert.equal(exec[exec.indexOf('--config') + 1], '/etc/jaudiosync/leader.json');
    assert.equal(exec[exec.indexOf('--state-dir') + 1], `/var/lib/${one(text, 'StateDirectory')}`);
    const config = await import('@jaudiosync/leader/leader-config');
    // Every flag in ExecStart is one the leader accepts (it parses them without a config file).
    const withoutConfig = exec.filter((a, i) => a !== '--config' && exec[i - 1] !== '--config');
    assert.doesNotThrow(() => config.parseLeaderArgs(withoutConfig));
  });

  test('member: no capabilities, only sound devices, real-time limits, env vars the member reads', async () => {
    const text = readFileSync(unitPath('member'), 'utf8');
    assert.equal(one(text, 'CapabilityBoundingSet'), '');
    assert.equal(one(text, 'AmbientCapabilities'), '');
    assert.equal(one(text, 'SupplementaryGroups'), 'audio');
    assert.equal(one(text, 'DevicePolicy'), 'closed');
    assert.equal(one(text, 'DeviceAllow'), 'char-alsa rw');
    assert.ok(Number(one(text, 'LimitRTPRIO')) > 0);
    assert.notEqual(one(text, 'RestrictRealtime'), 'yes');
    const { MEMBER_OPTIONS } = await import('@jaudiosync/member/member-config');
    const known = new Set([...MEMBER_OPTIONS.map((o) => o.env), 'JAS_MEMBER_CONFIG', 'NODE_ENV']);
    const env = new Map(values(text, 'Environment').map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    for (const name of env.keys()) assert.ok(known.has(name), `${name} is not read by the member`);
    assert.equal(env.get('JAS_STATE_DIR'), `/var/lib/${one(text, 'StateDirectory')}`);
    assert.equal(env.get('JAS_CACHE_DIR'), `/var/cache/${one(text, 'CacheDirectory')}`);
    assert.equal(env.get('JAS_RUNTIME_DIR'), `/run/${one(text, 'RuntimeDirectory')}`);
    assert.equal(one(text, 'RuntimeDirectoryPreserve'), 'restart', 'the clock memory must survive a restart');
    assert.equal(env.get('JAS_MEMBER_CONFIG'), '/etc/jaudiosync/member.json');
  });

  test('member: avahi-daemon publishes it from a service file regenerated from the config before every start', () => {
    const text = readFileSync(unitPath('member'), 'utf8');
    assert.match(one(text, 'After'), /\bavahi-daemon\.service\b/);
    const pre = one(text, 'ExecStartPre').split(/\s+/);
    // "+": privileged (the file is in /etc); the same bin and config (Environment) as ExecStart.
    assert.equal(pre[0], '+/usr/bin/node');
    assert.equal(pre[1], one(text, 'ExecStart').split(/\s+/).find((a) => a.endsWith('jaudiosync-member.js')));
    assert.deepEqual(pre.slice(2), ['--write-avahi-service']);
  });
});

/** `+ command` lines and `write`/`mkdir` lines of an install run. */
function plan(stdout: string): { commands: string[]; writes: string[]; dirs: string[] } {
  const lines = stdout.split('\n');
  return {
    commands: lines.filter((l) => l.startsWith('+ ')).map((l) => l.slice(2)),
    writes: lines.filter((l) => l.startsWith('write ')).map((l) => l.split(' ')[1] as string),
    dirs: lines.filter((l) => l.startsWith('mkdir ')).map((l) => l.split(' ')[1] as string),
  };
}

describe('scripts/install --dry-run', () => {
  const key = execFileSync(KEYGEN, ['--key-only'], { encoding: 'utf8' }).trim();

  test('member with chrony: every package, file and command, and nothing changes', () => {
    const r = run(INSTALL, ['--role', 'member', '--dry-run', '--key', key, '--chrony-server', 'leader.local']);
    assert.equal(r.status, 0, r.stderr);
    const p = plan(r.stdout);
    const apt = p.commands.find((c) => c.includes('apt-get install') && c.includes('libportaudio2'));
    assert.ok(apt, r.stdout);
    for (const pkg of ['libportaudio2', 'portaudio19-dev', 'libpulse-dev', 'g++', 'make', 'chrony', 'avahi-daemon', 'libnss-mdns']) {
      assert.ok(apt.split(' ').includes(pkg), `${pkg} missing in ${apt}`);
    }
    const expectCommands = [
      'systemd-sysusers /etc/sysusers.d/jaudiosync.conf /etc/sysusers.d/jaudiosync-member.conf',
      '(cd /opt/jaudiosync.new && npm ci --no-audit --no-fund)',
      '(cd /opt/jaudiosync.new && npx tsc -b packages/leader packages/member)',
      'mv /opt/jaudiosync.new /opt/jaudiosync',
      'systemctl restart chrony.service',
      'systemctl daemon-reload',
      'systemctl enable jaudiosync-member.service',
      'systemctl restart jaudiosync-member.service',
    ];
    for (const c of expectCommands) assert.ok(p.commands.includes(c), `missing command ${c} in\n${p.commands.join('\n')}`);
    const copy = p.commands.find((c) => c.startsWith(`tar -C ${REPO.replace(/\/$/, '')} `));
    assert.ok(copy, 'copies the checkout');
    for (const ex of ['--exclude=./.git', '--exclude=node_modules', '--exclude=dist']) assert.ok(copy.includes(ex), copy);
    assert.deepEqual(p.writes.filter((w) => !w.startsWith('/opt/')).sort(), [
      '/etc/chrony/conf.d/jaudiosync.conf', '/etc/jaudiosync/member.json', '/etc/sysusers.d/jaudiosync-member.conf',
      '/etc/sysusers.d/jaudiosync.conf', '/etc/systemd/system/jaudiosync-member.service',
      '/usr/local/bin/jaudiosync', '/usr/local/bin/jaudiosync-keygen', '/usr/local/bin/jaudiosync-leader', '/usr/local/bin/jaudiosync-member',
    ].sort());
    assert.match(r.stdout, /write \/etc\/jaudiosync\/member\.json \(mode 0640, owner root:jaudiosync\)/);
    assert.ok(!p.commands.some((c) => c.includes('keygen --key-only')), 'a given key is used, not a new one');
    // The enable comes after the unit is written, the restart after the enable.
    const order = r.stdout.split('\n');
    const at = (s: string): number => order.findIndex((l) => l.includes(s));
    assert.ok(at('write /etc/systemd/system/jaudiosync-member.service') < at('+ systemctl enable'));
    assert.ok(at('+ systemctl enable') < at('+ systemctl restart jaudiosync-member'));
    assert.ok(at('npx tsc -b') < at('+ mv /opt/jaudiosync.new /opt/jaudiosync'));
    // avahi's service file for the member, from its config, once the app is in place.
    const avahi = p.commands.find((c) => c.includes('--write-avahi-service'));
    assert.ok(avahi?.includes('JAS_MEMBER_CONFIG=/etc/jaudiosync/member.json') && avahi.includes('--avahi-service-file /etc/avahi/services/jaudiosync-member.service'), avahi);
    assert.ok(at('+ mv /opt/jaudiosync.new /opt/jaudiosync') < at('--write-avahi-service') && at('--write-avahi-service') < at('+ systemctl restart jaudiosync-member'));
  });

  test('leader: no chrony, a generated key, the music directory; a dry run into --root writes nothing', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'jas-dry-'));
    after(() => rmSync(root, { recursive: true, force: true }));
    const r = run(INSTALL, ['--role', 'leader', '--dry-run', '--root', root]);
    assert.equal(r.status, 0, r.stderr);
    const p = plan(r.stdout);
    assert.ok(!p.commands.some((c) => c.includes('apt-get')), '--root implies --no-apt');
    assert.ok(p.commands.some((c) => c.endsWith('scripts/keygen --key-only')));
    assert.ok(p.commands.includes(`systemctl --root=${root} enable jaudiosync-leader.service`));
    assert.ok(!p.commands.some((c) => c.includes('restart')), 'nothing is started in a root');
    assert.ok(p.writes.includes(`${root}/etc/jaudiosync/leader.json`));
    assert.ok(p.dirs.includes(`${root}/srv/jaudiosync/music`));
    assert.ok(!p.writes.some((w) => w.includes('chrony')));
    assert.ok(!p.writes.includes(`${root}/etc/sysusers.d/jaudiosync-member.conf`), 'the leader needs no audio group');
    assert.deepEqual(readdirSync(root), [], 'a dry run changes nothing');
  });

  test('bad arguments are refused before anything happens', () => {
    const cases: Array<[string[], number, RegExp]> = [
      [[], 2, /Usage/],
      [['--role', 'speaker', '--dry-run'], 1, /leader or member/],
      [['--role', 'member', '--dry-run', '--key', 'jas1_short'], 1, /--key must look like/],
      [['--role', 'leader', '--dry-run', '--chrony-server', 'leader.local'], 1, /for members/],
      [['--role', 'member', '--dry-run', '--chrony-server', 'a;b'], 1, /not a host name/],
      [['--role', 'member', '--frobnicate'], 2, /unknown option/],
    ];
    for (const [args, status, re] of cases) {
      const r = run(INSTALL, args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, re);
      assert.ok(!r.stdout.includes('\n+ '), 'no command ran');
    }
  });
});

/** The enablement symlink points at /etc/... of the target root, so it dangles on the host. */
function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function entry(file: string, name: string): string[] | undefined {
  return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
}

describe('scripts/install into a throwaway root', { skip: process.getuid?.() !== 0 ? 'needs root (chown, systemd-sysusers)' : false }, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'jas-root-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const conf = (role: Role): string => path.join(root, 'etc/jaudiosync', `${role}.json`);
  const keyOf = (role: Role): string => (JSON.parse(readFileSync(conf(role), 'utf8')) as { key: string }).key;

  test('leader: user, app, config with a new key, unit, enabled', () => {
    const r = run(INSTALL, ['--role', 'leader', '--root', root, '--prebuilt']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const user = entry(path.join(root, 'etc/passwd'), 'jaudiosync');
    assert.ok(user, 'user created');
    assert.equal(user[6], '/usr/sbin/nologin');
    assert.equal(entry(path.join(root, 'etc/group'), 'audio'), undefined, 'a leader needs no audio group');
    const gid = Number(entry(path.join(root, 'etc/group'), 'jaudiosync')?.[2]);

    const st = statSync(conf('leader'));
    assert.equal(st.mode & 0o777, 0o640);
    assert.deepEqual([st.uid, st.gid], [0, gid], 'root-owned, readable by the service group only');
    assert.equal(statSync(path.dirname(conf('leader'))).mode & 0o777, 0o750);
    const config = JSON.parse(readFileSync(conf('leader'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(config).sort(), ['key', 'musicDir']);
    assert.doesNotThrow(() => parseKey(config['key']));
    assert.match(r.stdout, /generated a NEW shared key/);
    assert.ok(statSync(path.join(root, 'srv/jaudiosync/music')).isDirectory());

    const app = path.join(root, 'opt/jaudiosync');
    assert.ok(!existsSync(path.join(app, '.git')));
    assert.ok(!existsSync(`${app}.new`) && !existsSync(`${app}.old`));
    assert.match(readFileSync(path.join(app, 'INSTALLED'), 'utf8'), /^revision /m);
    const exec = one(readFileSync(unitPath('leader'), 'utf8'), 'ExecStart').split(/\s+/).filter((a) => !a.startsWith('--'));
    assert.ok(existsSync(path.join(root, exec[1] as string)), `${exec[1]} installed`);
    const appStat = statSync(path.join(app, 'package.json'));
    assert.equal(appStat.uid, 0);
    assert.equal(appStat.mode & 0o022, 0, 'the service user cannot change its code');

    const unit = path.join(root, 'etc/systemd/system/jaudiosync-leader.service');
    assert.equal(readFileSync(unit, 'utf8'), readFileSync(unitPath('leader'), 'utf8'));
    verifyUnit(unit);
    const link = path.join(root, 'etc/systemd/system/multi-user.target.wants/jaudiosync-leader.service');
    assert.ok(isLink(link), 'enabled');
    assert.equal(readlinkSync(link), '/etc/systemd/system/jaudiosync-leader.service');

    // The installed copy's keygen derives the REST token from the installed config.
    const token = execFileSync(path.join(app, 'scripts/keygen'), ['--config', conf('leader'), '--token-only'], { encoding: 'utf8' }).trim();
    assert.equal(token, restToken(parseKey(config['key'])));
    // Commands on PATH point into /opt/jaudiosync at files that exist.
    for (const name of ['jaudiosync', 'jaudiosync-leader', 'jaudiosync-member', 'jaudiosync-keygen']) {
      const wrapper = path.join(root, 'usr/local/bin', name);
      assert.equal(statSync(wrapper).mode & 0o777, 0o755);
      const m = /exec ((?:\S+ )*?)(\/opt\/jaudiosync\/\S+) "\$@"/.exec(readFileSync(wrapper, 'utf8'));
      const target = m?.[2];
      assert.ok(target, readFileSync(wrapper, 'utf8'));
      if (name === 'jaudiosync-member') assert.deepEqual(m?.[1]?.trim().split(' ').slice(1), MEMBER_NODE_FLAGS, 'the member runs with its node options');
      if (name === 'jaudiosync-leader' || name === 'jaudiosync') assert.deepEqual(m?.[1]?.trim().split(' ').slice(1), LEADER_NODE_FLAGS, 'the leader runs with its node options');
      if (name !== 'jaudiosync-member' || existsSync(path.join(REPO, 'packages/member/dist/src/bin/jaudiosync-member.js'))) {
        assert.ok(existsSync(path.join(root, target)), `${name} -> ${target}`);
      }
    }
  });

  test('member on the same host: same key, audio group, --no-enable leaves it disabled', () => {
    const r = run(INSTALL, ['--role', 'member', '--root', root, '--prebuilt', '--no-enable']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(keyOf('member'), keyOf('leader'));
    assert.match(r.stdout, /shared key: the same as in \/etc\/jaudiosync\/leader\.json/);
    assert.deepEqual(entry(path.join(root, 'etc/group'), 'audio')?.[3]?.split(','), ['jaudiosync']);
    assert.equal(statSync(conf('member')).mode & 0o777, 0o640);
    const unit = path.join(root, 'etc/systemd/system/jaudiosync-member.service');
    verifyUnit(unit);
    assert.ok(!isLink(path.join(root, 'etc/systemd/system/multi-user.target.wants/jaudiosync-member.service')));
    assert.ok(isLink(path.join(root, 'etc/systemd/system/multi-user.target.wants/jaudiosync-leader.service')));
  });

  test('running again upgrades the app and keeps the config and its key', () => {
    const before = readFileSync(conf('leader'), 'utf8');
    const other = execFileSync(KEYGEN, ['--key-only'], { encoding: 'utf8' }).trim();
    const r = run(INSTALL, ['--role', 'leader', '--root', root, '--prebuilt', '--key', other]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /keeping the existing \/etc\/jaudiosync\/leader\.json \(--key ignored/);
    assert.equal(readFileSync(conf('leader'), 'utf8'), before);
    assert.ok(!existsSync(path.join(root, 'opt/jaudiosync.new')) && !existsSync(path.join(root, 'opt/jaudiosync.old')));
    assert.equal(entry(path.join(root, 'etc/passwd'), 'jaudiosync')?.length, 7);
    assert.equal(readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').filter((l) => l.startsWith('jaudiosync:')).length, 1);
  });

  test('a key given for a new config is used as is', () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'jas-root-'));
    after(() => rmSync(fresh, { recursive: true, force: true }));
    const key = execFileSync(KEYGEN, ['--key-only'], { encoding: 'utf8' }).trim();
    const r = run(INSTALL, ['--role', 'member', '--root', fresh, '--prebuilt', '--no-enable', '--key', key]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(readFileSync(path.join(fresh, 'etc/jaudiosync/member.json'), 'utf8')) as { key: string }).key, key);
    assert.ok(!r.stdout.includes(key), 'a given key is not echoed');
  });
});
