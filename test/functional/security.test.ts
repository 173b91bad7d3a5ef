/**
 * The plugin endpoint's security, end to end: a second dockerd of the test's own reaches a Kuryr
 * daemon served only over HTTPS with client-certificate verification and a client-name allow-list,
 * through the .json discovery file Kuryr writes; a client without a valid certificate, or with one
 * naming another client, is refused; the daemon's debug log holds no credential, not even one
 * passed as a network option, and only root can read it; a world-readable kuryr.conf earns a
 * warning at start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdtemp, open, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { idTags } from '../../src/libnetwork/naming.js';
import { eventually, IMAGE, neutron, sh, uniq } from './harness.js';
import { freeCidr, freePrefix } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { freePort, makeTestPki, type TestPki } from '../unit/tls-fixtures.js';

const BASE_CONFIG = '/etc/kuryr/kuryr.conf';
const SERVER = new URL('../../src/cli/kuryr-server.js', import.meta.url).pathname;
const PLUGIN = 'kuryr-tls';
const ETC_PLUGINS = '/etc/docker/plugins';
const SPEC_DIR = join(ETC_PLUGINS, PLUGIN);
const suffix = uniq();
const NET = `kt-tls-${suffix}`;
const CONTAINER = `kt-tls-c-${suffix}`;
const PREFIX = await freePrefix();

let dir: string;
let pki: TestPki;
let tlsPort = 0;
let kuryr: PrivateDaemon | undefined;
let dockerd: ChildProcess | undefined;
let createdEtcPlugins = false;

const dockerSocket = () => join(dir, 'docker.sock');
const docker2 = (...args: string[]) => sh('docker', ['-H', `unix://${dockerSocket()}`, ...args]);

/**
 * The second dockerd's default bridge: one of its own, on TEST-NET-1 (nothing routes it), never
 * none. A dockerd started with --bridge=none deletes the host's docker0 (see scripts/second-docker.sh).
 */
const BRIDGE = `kts${suffix}`;
const BRIDGE_ADDRESS = '192.0.2.17/28';

/** A dockerd of this test's own: own data, exec root (and so its own containerd), socket and default bridge; no iptables. */
async function startDockerd(): Promise<ChildProcess> {
  await sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', BRIDGE_ADDRESS, 'dev', BRIDGE]);
  const log = await open(join(dir, 'dockerd.log'), 'a');
  const child = spawn(
    '/usr/sbin/dockerd',
    [
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'x'),
      '--host', `unix://${dockerSocket()}`,
      '--pidfile', join(dir, 'docker.pid'),
      `--bridge=${BRIDGE}`,
      '--iptables=false',
      '--storage-driver=vfs',
    ],
    { stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  await eventually('the second dockerd to answer', async () => {
    if (child.exitCode !== null) throw new Error(`dockerd exited ${child.exitCode}; see ${join(dir, 'dockerd.log')}`);
    return (await docker2('version', '--format', '{{.Server.Version}}').catch(() => '')) ? true : undefined;
  }, 60_000, 500);
  return child;
}

async function stopProcess(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killTimer);
}

/** POSTs to the TLS listener as an arbitrary client would, verifying Kuryr's certificate. */
async function tlsPost(path: string, client: { cert?: string; key?: string }, body = ''): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caFile), client.cert ? readFile(client.cert) : undefined, client.key ? readFile(client.key) : undefined]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: tlsPort, path, method: 'POST', ca, cert, key, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every secret the daemon authenticates with, as kuryr.conf gives them. */
function secrets(): string[] {
  const auth = loadConfig(['--config-file', BASE_CONFIG], {}, { allowUnknownArgs: true }).neutron.auth;
  return [auth.password, auth.token, auth.applicationCredentialSecret].filter((s): s is string => !!s);
}

/** Fernet tokens (what Keystone hands out here) start with gAAAAA. */
const FERNET_TOKEN = /gAAAAA[A-Za-z0-9_-]{20,}/;

describe('Kuryr over HTTPS with client certificates, for a dockerd of its own', () => {
  before(async () => {
    dir = await mkdtemp('/tmp/ksec-');
    pki = await makeTestPki(dir);
    tlsPort = await freePort();
    createdEtcPlugins = !existsSync(ETC_PLUGINS);
    kuryr = await PrivateDaemon.start(
      PLUGIN,
      {
        DEFAULT: {
          kuryr_uri: `https://127.0.0.1:${tlsPort}`,
          enable_ssl: 'True',
          ssl_cert_file: pki.serverCert,
          ssl_key_file: pki.serverKey,
          ssl_ca_file: pki.caFile,
          ssl_allowed_client_names: pki.clientName,
          docker_ca_file: pki.caFile,
          docker_client_cert_file: pki.clientCert,
          docker_client_key_file: pki.clientKey,
          plugin_spec_dir: SPEC_DIR,
        },
      },
      // The socket is only for the helper's readiness check: outside /run/docker/plugins, Docker cannot find it.
      { socketDir: dir, instance: suffix },
    );
    dockerd = await startDockerd();
    await sh('bash', ['-c', `docker save ${IMAGE} | docker -H unix://${dockerSocket()} load`]);
  });

  after(async () => {
    if (dockerd && dockerd.exitCode === null) {
      await docker2('rm', '-f', CONTAINER).catch(() => undefined);
      await docker2('network', 'rm', NET).catch(() => undefined);
    }
    await stopProcess(dockerd, 30_000);
    await sh('ip', ['link', 'del', BRIDGE]).catch(() => undefined);
    await kuryr?.stop();
    await rm(SPEC_DIR, { recursive: true, force: true });
    if (createdEtcPlugins) await rmdir(ETC_PLUGINS).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('Kuryr writes the discovery file Docker needs: https address, the CA to verify Kuryr, the client certificate', async () => {
    const spec = JSON.parse(await readFile(join(SPEC_DIR, `${PLUGIN}.json`), 'utf8')) as unknown;
    assert.deepEqual(spec, {
      Name: PLUGIN,
      Addr: `https://127.0.0.1:${tlsPort}`,
      TLSConfig: { InsecureSkipVerify: false, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey },
    });
  });

  test('the second dockerd creates a network and runs a container through the TLS listener', async () => {
    await docker2('network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--subnet', `${PREFIX}.0/24`, NET);
    await docker2('run', '-d', '--name', CONTAINER, '--net', NET, IMAGE, 'sleep', '600');
    const endpointId = await docker2('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, CONTAINER);
    const port = await eventually('the container\'s Neutron port, tagged with its endpoint', async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0]);
    const addr = await docker2('exec', CONTAINER, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0');
    assert.match(addr, new RegExp(`inet ${port.fixed_ips[0]!.ip_address.replaceAll('.', '\\.')}/24`));

    await docker2('rm', '-f', CONTAINER);
    await docker2('network', 'rm', NET);
    assert.deepEqual(await neutron.listPorts({ tags: idTags(endpointId).join(',') }), [], 'the port is gone again');
    const served = kuryr!.logLines('docker call').map((l) => l['method']);
    assert.ok(served.includes('NetworkDriver.CreateEndpoint') && served.includes('NetworkDriver.Join'), 'Docker reached Kuryr (it can only find the https listener)');
  });

  test('a client without a certificate, or with one from another CA, is refused in the TLS handshake', async () => {
    assert.equal((await tlsPost('/Plugin.Activate', { cert: pki.clientCert, key: pki.clientKey })).status, 200);
    await assert.rejects(tlsPost('/Plugin.Activate', {}), /alert certificate required/);
    await assert.rejects(tlsPost('/Plugin.Activate', { cert: pki.otherClientCert, key: pki.otherClientKey }), /unknown ca|ECONNRESET|socket hang up/);
  });

  test('a client whose certificate, signed by the same CA, names another client gets 403 {"Err"}, and nothing reaches Neutron', async () => {
    const networkId = randomBytes(32).toString('hex');
    const prefix = await freePrefix();
    const createNetwork = JSON.stringify({
      NetworkID: networkId,
      Options: {},
      IPv4Data: [{ AddressSpace: 'global_scope', Pool: `${prefix}.0/24`, Gateway: `${prefix}.1/24` }],
      IPv6Data: [],
    });
    const refused = await tlsPost('/NetworkDriver.CreateNetwork', { cert: pki.secondClientCert, key: pki.secondClientKey }, createNetwork);
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), {
      Err: `Kuryr refuses this client: its certificate has subject CN "${pki.secondClientName}", which is not in [DEFAULT] ssl_allowed_client_names`,
    });
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(networkId).join(',') }), [], 'no Neutron network for the refused call');
    assert.equal(kuryr!.logLines('docker call').some((l) => l['method'] === 'NetworkDriver.CreateNetwork' && JSON.stringify(l).includes(networkId)), false);
    const logged = kuryr!.logLines('plugin call refused: client certificate name not in ssl_allowed_client_names');
    assert.deepEqual(logged.map((l) => [l['clientName'], l['method']]), [[pki.secondClientName, 'NetworkDriver.CreateNetwork']]);
    assert.equal((await tlsPost('/Plugin.Activate', { cert: pki.clientCert, key: pki.clientKey })).status, 200, 'the allowed client is still served');
  });

  test('secrets passed as network options never reach the debug log, which only root can read', async () => {
    const secret = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;
    const values = { password: secret('pw'), OS_PASSWORD: secret('ospw'), Secret_Token: secret('st'), applicationCredentialSecret: secret('acs') };
    const urlPassword = secret('urlpw');
    const options = [...Object.entries(values).map(([k, v]) => `${k}=${v}`), `kt.endpoint=http://operator:${urlPassword}@127.0.0.1:1/`].flatMap((o) => ['-o', o]);
    // Kuryr may refuse the options: what matters is the request it logged.
    await docker2('network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--subnet', await freeCidr(4), ...options, `${NET}-opts`).catch(() => undefined);
    await docker2('network', 'rm', `${NET}-opts`).catch(() => undefined);
    const requests = kuryr!.logLines('docker call request').filter((l) => l['method'] === 'NetworkDriver.CreateNetwork');
    const generic = requests.map((l) => ((l['request'] as { Options?: Record<string, Record<string, string>> }).Options ?? {})['com.docker.network.generic']).find((g) => g && 'password' in g);
    assert.deepEqual(generic, { password: '***', OS_PASSWORD: '***', Secret_Token: '***', applicationCredentialSecret: '***', 'kt.endpoint': 'http://***@127.0.0.1:1/' });
    const log = await readFile(kuryr!.logFile, 'utf8');
    for (const v of [...Object.values(values), urlPassword]) assert.equal(log.includes(v), false, `${v} is in ${kuryr!.logFile}`);
    assert.equal((await stat(kuryr!.logFile)).mode & 0o777, 0o600, 'the log file is root\'s only');
  });

  test('a client that connects to the TLS port and never completes its handshake is cut off within 10 s', async () => {
    const started = Date.now();
    const socket = connect(tlsPort, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = await Promise.race([once(socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(r, 30_000, false))]);
    socket.destroy();
    const seconds = (Date.now() - started) / 1000;
    assert.ok(closed && seconds >= 9 && seconds <= 13, `the silent client was ${closed ? `cut after ${seconds} s` : 'still connected after 30 s'}`);
    assert.equal((await tlsPost('/Plugin.Activate', { cert: pki.clientCert, key: pki.clientKey })).status, 200);
  });

  test('the plugin socket is reachable by its owner only', async () => {
    assert.equal((await stat(kuryr!.socketPath)).mode & 0o777, 0o600);
  });

  test('after a full lifecycle at debug level, the daemon\'s log holds no password and no token', async () => {
    const log = await readFile(kuryr!.logFile, 'utf8');
    assert.match(log, /"msg":"docker call request"/, 'the log is at debug level: request bodies are there');
    assert.match(log, /"msg":"neutron: request body"/);
    const known = secrets();
    assert.ok(known.length > 0, 'kuryr.conf has a secret to look for');
    for (const secret of known) assert.equal(log.includes(secret), false, 'a Keystone secret from kuryr.conf is in the log');
    assert.doesNotMatch(log, FERNET_TOKEN);
  });
});

test('kuryr-server warns at start when kuryr.conf holding credentials is readable by others', async () => {
  const wwDir = await mkdtemp('/tmp/kww-');
  const conf = join(wwDir, 'kuryr.conf');
  const logFile = join(wwDir, 'kuryr-server.log');
  // The directory is 0700: the 0644 copy is readable by nobody else in fact. No metrics listener:
  // the stack's daemon holds that port, and this daemon only has to start and warn.
  await copyFile(BASE_CONFIG, conf);
  await chmod(conf, 0o644);
  const overrides = join(wwDir, 'overrides.conf');
  await writeFile(overrides, `[DEFAULT]\nsocket_path = ${join(wwDir, 'ww.sock')}\nkuryr_uri =\nplugin_spec_dir =\nmetrics_listen =\nlog_file = ${logFile}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [SERVER, '--config-file', conf, '--config-file', overrides], { stdio: 'ignore' });
  try {
    const line = await eventually('the permission warning', async () => {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      const warning = text.split('\n').find((l) => l.includes('readable by group/others'));
      if (!warning && child.exitCode !== null) throw new Error(`kuryr-server exited ${child.exitCode}: ${text.slice(-500)}`);
      return warning;
    }, 30_000);
    const entry = JSON.parse(line) as { level: number; msg: string };
    assert.equal(entry.level, 40);
    assert.ok(
      entry.msg.startsWith(`kuryr.conf: ${conf} holds credentials (`) && entry.msg.endsWith(`) but is readable by group/others (mode 0644); run chmod 600 ${conf}`),
      entry.msg,
    );
    for (const secret of secrets()) assert.equal((await readFile(logFile, 'utf8')).includes(secret), false);
  } finally {
    await stopProcess(child, 10_000);
    await rm(wwDir, { recursive: true, force: true });
  }
});
