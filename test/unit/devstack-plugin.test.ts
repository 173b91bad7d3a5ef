/**
 * devstack/plugin.sh and devstack/settings, phase by phase, without devstack (none here): a bash
 * harness sources them as devstack does (`source plugin.sh <mode> [phase]`, under stack.sh's errexit
 * and NOUNSET's nounset) with devstack's functions replaced by recorders. iniset and
 * configure_keystone_authtoken_middleware edit the file as devstack's do, so the kuryr.conf the
 * plugin writes is read back with Kuryr's own loader. Everything that leaves the machine or needs
 * devstack (npm installs, nodejs.org, openstack, systemd) is recorded, not run.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/index.js';
import { configSample } from '../../src/config/sample.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PLUGIN = join(REPO, 'devstack', 'plugin.sh');
const SETTINGS = join(REPO, 'devstack', 'settings');
const BUILT_CLI = fileURLToPath(new URL('../../src/cli/', import.meta.url));
const SHELLCHECK = ['/usr/bin/shellcheck', '/bin/shellcheck'].find((p) => existsSync(p));
const root = mkdtempSync(join(tmpdir(), 'kuryr-devstack-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** devstack's functions as recorders: see the script's header. */
const HARNESS = join(REPO, 'test', 'unit', 'devstack-harness.sh');

interface Outcome {
  code: number;
  calls: string[];
  stderr: string;
  dir: string;
}

let runs = 0;
/** One devstack invocation of the plugin in a fresh (or given) sandbox. */
async function phase(args: string[], opts: { env?: Record<string, string>; dir?: string } = {}): Promise<Outcome> {
  const dir = opts.dir ?? join(root, `s${runs++}`);
  if (!opts.dir) {
    mkdirSync(join(dir, 'prefix', 'bin'), { recursive: true });
    for (const bin of ['kuryr', 'kuryr-server']) {
      writeFileSync(join(dir, 'prefix', 'bin', bin), `#!/bin/sh\nexec ${process.execPath} ${join(BUILT_CLI, `${bin}.js`)} "$@"\n`);
      chmodSync(join(dir, 'prefix', 'bin', bin), 0o755);
    }
    mkdirSync(join(dir, 'data'), { recursive: true });
    mkdirSync(join(dir, 'run'), { recursive: true });
  }
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    HARNESS_LOG: log,
    HARNESS_PLUGIN: PLUGIN,
    HARNESS_SETTINGS: SETTINGS,
    HARNESS_ENABLED: 'key neutron kuryr-libnetwork',
    // devstack's own variables (stackrc, lib/keystone, lib/tls).
    DEST: join(dir, 'opt'),
    DATA_DIR: join(dir, 'data'),
    STACK_USER: userInfo().username,
    KEYSTONE_SERVICE_URI: 'http://192.0.2.10/identity',
    SERVICE_PASSWORD: 'devstack-service-pw',
    SERVICE_DOMAIN_NAME: 'Default',
    SERVICE_PROJECT_NAME: 'service',
    REGION_NAME: 'RegionOne',
    SSL_BUNDLE_FILE: '',
    MEMCACHE_SERVERS: '192.0.2.10:11211',
    ENABLE_DEBUG_LOG_LEVEL: 'True',
    // The plugin's paths, inside the sandbox.
    KURYR_PREFIX: join(dir, 'prefix'),
    KURYR_CONFIG_DIR: join(dir, 'etc', 'kuryr'),
    KURYR_LOG_DIR: join(dir, 'log', 'kuryr'),
    KURYR_SOCKET: join(dir, 'run', 'plugins', 'kuryr.sock'),
    KURYR_ACTIVATOR_DIR: join(dir, 'docker-plugins', 'kuryr'),
    KURYR_START_TIMEOUT: '3',
    ...opts.env,
  };
  const result = await promisify(execFile)('bash', [HARNESS, ...args], { env, timeout: 60_000 }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code?: number; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? '' }),
  );
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { ...result, calls, dir };
}

const has = (o: Outcome, prefix: string) => o.calls.filter((c) => c.startsWith(prefix));

describe('the devstack plugin', () => {
  it('is shellcheck-clean, and so is its test harness (devstack sources the plugin; its functions and variables come from devstack)', { skip: SHELLCHECK ? false : 'shellcheck is not installed (scripts/test.sh installs it)' }, async () => {
    // -x: the harness's `source` lines are followed into settings and plugin.sh.
    const { stdout } = await promisify(execFile)(SHELLCHECK!, ['-x', PLUGIN, SETTINGS, HARNESS], { cwd: REPO }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? 'shellcheck failed' }));
    assert.equal(stdout, '');
  });

  it('does nothing in any phase when kuryr-libnetwork is not enabled', async () => {
    for (const args of [['stack', 'install'], ['stack', 'post-config'], ['stack', 'extra'], ['unstack'], ['clean']]) {
      const o = await phase(args, { env: { HARNESS_ENABLED: 'key neutron' } });
      assert.equal(o.code, 0, o.stderr);
      assert.deepEqual(o.calls, ['enable_service kuryr-libnetwork'], `${args.join(' ')}: only settings' enable_service`);
    }
  });

  describe('stack install', () => {
    it('keeps a recent node, packs this repository and installs the tarball globally under KURYR_PREFIX, and makes the log directory', async () => {
      const o = await phase(['stack', 'install']);
      assert.equal(o.code, 0, o.stderr + o.calls.join('\n'));
      assert.deepEqual(has(o, 'curl'), [], 'no Node.js download');
      assert.deepEqual(has(o, 'npm'), [
        'npm ci --no-audit --no-fund',
        `npm pack --pack-destination ${join(o.dir, 'data')}`,
        `npm install --global --prefix ${join(o.dir, 'prefix')} --no-audit --no-fund ${join(o.dir, 'data', 'kuryr-0.1.0.tgz')}`,
      ]);
      assert.ok(has(o, 'sudo npm install').length === 1, 'the global install runs as root');
      assert.ok(statSync(join(o.dir, 'log', 'kuryr')).isDirectory());
    });

    it('installs KURYR_NPM_PACKAGE instead when it is set', async () => {
      const o = await phase(['stack', 'install'], { env: { KURYR_NPM_PACKAGE: '/srv/kuryr-0.1.0.tgz' } });
      assert.equal(o.code, 0, o.stderr);
      assert.deepEqual(has(o, 'npm'), [`npm install --global --prefix ${join(o.dir, 'prefix')} --no-audit --no-fund /srv/kuryr-0.1.0.tgz`]);
    });

    it('downloads Node.js from nodejs.org when node is too old, and refuses a tarball that does not match SHASUMS256.txt', async () => {
      const o = await phase(['stack', 'install'], { env: { HARNESS_OLD_NODE: '1' } });
      assert.notEqual(o.code, 0);
      const urls = has(o, 'curl').map((c) => c.split(' ').at(-1));
      assert.deepEqual(urls, ['https://nodejs.org/dist/v20.20.2/node-v20.20.2-linux-x64.tar.xz', 'https://nodejs.org/dist/v20.20.2/SHASUMS256.txt']);
      assert.match(has(o, 'die').join('\n'), /does not match SHASUMS256\.txt/);
      assert.deepEqual(has(o, 'tar'), [], 'nothing unpacked');
      assert.deepEqual(has(o, 'npm'), [], 'no package installed on the failed node');
    });
  });

  describe('stack post-config', () => {
    it("creates Kuryr's service user with the admin role", async () => {
      const o = await phase(['stack', 'post-config']);
      assert.equal(o.code, 0, o.stderr + o.calls.join('\n'));
      assert.deepEqual(has(o, 'create_service_user'), ['create_service_user kuryr admin']);
    });

    it("writes kuryr.conf (root's, 0600) from the generated sample with devstack's Keystone credentials, which Kuryr's loader reads without a warning", async () => {
      const o = await phase(['stack', 'post-config']);
      assert.equal(o.code, 0, o.stderr);
      const conf = join(o.dir, 'etc', 'kuryr', 'kuryr.conf');
      assert.equal(statSync(conf).mode & 0o777, 0o600);
      assert.equal(statSync(conf).uid, 0, 'owned by root');
      const text = readFileSync(conf, 'utf8');
      assert.ok(text.startsWith(configSample().split('\n[DEFAULT]')[0]!), "the sample's header and comments are kept");
      const warnings: string[] = [];
      const config = loadConfig(['--config-file', conf], {}, { defaultConfigFiles: [], defaultConfigDirs: [], cloudsSearchDirs: [], hostname: 'devstack-1', onWarning: (w) => warnings.push(w) });
      assert.deepEqual(warnings, []);
      assert.deepEqual(
        { ...config.neutron.auth },
        { authType: 'password', authUrl: 'http://192.0.2.10/identity', username: 'kuryr', password: 'devstack-service-pw', userDomainName: 'Default', projectName: 'service', projectDomainName: 'Default' },
      );
      assert.equal(config.neutron.regionName, 'RegionOne');
      assert.equal(config.capabilityScope, 'local');
      assert.equal(config.processExternalConnectivity, true);
      assert.equal(config.debug, true, 'ENABLE_DEBUG_LOG_LEVEL');
      assert.equal(config.socketPath, join(o.dir, 'run', 'plugins', 'kuryr.sock'));
      assert.equal(config.kuryrUri, '', 'no TCP listener unless KURYR_URI is set');
      assert.match(text, /^\[neutron\]\nregion_name = RegionOne\nauth_section = keystone_authtoken$/m);
      assert.match(text, /^\[keystone_authtoken\]$/m);
    });

    it('sets the TCP listener, its discovery directory and the CA bundle when devstack has them', async () => {
      const o = await phase(['stack', 'post-config'], { env: { KURYR_URI: 'http://127.0.0.1:23750', SSL_BUNDLE_FILE: '/opt/stack/data/ca-bundle.pem' } });
      assert.equal(o.code, 0, o.stderr);
      const ini = readFileSync(join(o.dir, 'etc', 'kuryr', 'kuryr.conf'), 'utf8');
      assert.match(ini, /^kuryr_uri = http:\/\/127\.0\.0\.1:23750$/m);
      assert.ok(ini.includes(`\nplugin_spec_dir = ${join(o.dir, 'docker-plugins', 'kuryr')}\n`));
      assert.match(ini, /^\[neutron\]\ncafile = \/opt\/stack\/data\/ca-bundle\.pem$/m);
    });

    it("moves upstream kuryr-libnetwork's kuryr.spec aside, so Docker finds Kuryr's socket instead", async () => {
      const specDir = join(root, 'upstream-spec', 'kuryr');
      mkdirSync(specDir, { recursive: true });
      writeFileSync(join(specDir, 'kuryr.spec'), 'http://127.0.0.1:23750\n');
      const o = await phase(['stack', 'post-config'], { env: { KURYR_ACTIVATOR_DIR: specDir } });
      assert.equal(o.code, 0, o.stderr);
      assert.ok(!existsSync(join(specDir, 'kuryr.spec')));
      assert.equal(readFileSync(join(specDir, 'kuryr.spec.upstream'), 'utf8'), 'http://127.0.0.1:23750\n');
    });
  });

  describe('stack extra', () => {
    it('starts kuryr-server as root under run_process, waits for its socket, and creates the shared default pools in the service project', async () => {
      const o = await phase(['stack', 'extra']);
      assert.equal(o.code, 0, o.stderr + o.calls.join('\n'));
      const conf = join(o.dir, 'etc', 'kuryr', 'kuryr.conf');
      assert.deepEqual(has(o, 'run_process'), [`run_process kuryr-libnetwork ${join(o.dir, 'prefix', 'bin', 'kuryr-server')} --config-file ${conf}  root`]);
      assert.deepEqual(has(o, 'openstack'), [
        'openstack --os-cloud devstack-admin subnet pool show kuryr',
        'openstack --os-cloud devstack-admin subnet pool create --share --project service --project-domain Default --pool-prefix 10.10.0.0/16 --default-prefix-length 24 kuryr',
        'openstack --os-cloud devstack-admin subnet pool show kuryr6',
        'openstack --os-cloud devstack-admin subnet pool create --share --project service --project-domain Default --pool-prefix fd10:10::/48 --default-prefix-length 64 kuryr6',
      ]);
    });

    it('leaves existing pools alone (stack.sh run again)', async () => {
      const o = await phase(['stack', 'extra'], { env: { HARNESS_POOLS_EXIST: '1' } });
      assert.equal(o.code, 0, o.stderr);
      assert.deepEqual(has(o, 'openstack').filter((c) => c.includes(' create ')), []);
    });

    it('fails stack.sh, naming the journal, when kuryr-server never listens', async () => {
      const o = await phase(['stack', 'extra'], { env: { HARNESS_NO_SOCKET: '1' } });
      assert.notEqual(o.code, 0);
      assert.match(has(o, 'die').join('\n'), /not listening on .*kuryr\.sock after 3s \(journalctl -u devstack@kuryr-libnetwork\)/);
      assert.deepEqual(has(o, 'openstack'), [], 'no pools for a daemon that is not up');
    });
  });

  it('unstack stops the process and leaves config and package in place', async () => {
    const o = await phase(['unstack']);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(o.calls.slice(1), ['stop_process kuryr-libnetwork']);
  });

  it('clean removes the config directory and uninstalls the package', async () => {
    const post = await phase(['stack', 'post-config']);
    assert.equal(post.code, 0, post.stderr);
    const o = await phase(['clean'], { dir: post.dir });
    assert.equal(o.code, 0, o.stderr);
    assert.ok(!existsSync(join(o.dir, 'etc', 'kuryr')));
    assert.deepEqual(has(o, 'npm'), [`npm uninstall --global --prefix ${join(o.dir, 'prefix')} kuryr`]);
  });
});
