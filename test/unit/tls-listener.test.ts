/**
 * The TCP listener's security: HTTPS with client-certificate verification (ssl_ca_file) and the
 * client-name allow-list (ssl_allowed_client_names), Docker's .json discovery file with the TLSConfig
 * Docker needs, and the start-up warning every TCP listener earns (louder off loopback).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { pluginNameForSpecDir } from '../../src/libnetwork/plugin-spec.js';
import { PluginServer, type ListenOptions } from '../../src/libnetwork/server.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { captureLogger } from './openstack-fake-servers.js';
import { freePort, makeTestPki, type TestPki } from './tls-fixtures.js';

const NET = 'a'.repeat(64);
const reachedDriver: string[] = [];
const net = { deleteNetwork: async (req: { NetworkID: string }) => (reachedDriver.push(req.NetworkID), {}) } as unknown as NetworkDriver;
const protocol = new PluginProtocol(net, {} as IpamDriver, silentLogger);

let dir: string;
let pki: TestPki;

interface ClientIdentity {
  cert?: string;
  key?: string;
}

/** POSTs like Docker does over TLS, verifying Kuryr's certificate against the test CA. */
async function tlsPost(port: number, path: string, body: string, who: ClientIdentity): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caFile), who.cert ? readFile(who.cert) : undefined, who.key ? readFile(who.key) : undefined]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', ca, cert, key, agent: false }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kuryr-tls-'));
  pki = await makeTestPki(dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const serverTls = (requireClientCert: boolean) => ({ certFile: pki.serverCert, keyFile: pki.serverKey, ...(requireClientCert ? { caFile: pki.caFile } : {}) });

/** Serves the protocol on a fresh loopback port while `use` runs. */
async function serving(
  opts: Partial<Omit<ListenOptions, 'uri'>> & { scheme?: 'http' | 'https'; host?: string; logger?: Logger },
  use: (port: number) => Promise<void>,
): Promise<void> {
  const server = new PluginServer(protocol, opts.logger ?? silentLogger);
  const port = await freePort();
  const { scheme = 'https', host = '127.0.0.1', logger: _logger, ...listen } = opts;
  await server.listen({ socketPath: '', specDir: '', pluginName: 'kuryr', ...listen, uri: `${scheme}://${host}:${port}` });
  try {
    await use(port);
  } finally {
    await server.close();
  }
}

const DELETE_NETWORK = JSON.stringify({ NetworkID: NET });

test('with ssl_ca_file, a client certificate from that CA is served; none, or one from another CA, is refused in the TLS handshake', async () => {
  await serving({ tls: serverTls(true) }, async (port) => {
    reachedDriver.length = 0;
    const ok = await tlsPost(port, '/NetworkDriver.DeleteNetwork', DELETE_NETWORK, { cert: pki.clientCert, key: pki.clientKey });
    assert.deepEqual(ok, { status: 200, body: '{}' });
    assert.deepEqual(reachedDriver, [NET]);

    reachedDriver.length = 0;
    await assert.rejects(tlsPost(port, '/NetworkDriver.DeleteNetwork', DELETE_NETWORK, {}), /alert certificate required/);
    await assert.rejects(
      tlsPost(port, '/NetworkDriver.DeleteNetwork', DELETE_NETWORK, { cert: pki.otherClientCert, key: pki.otherClientKey }),
      /unknown ca|ECONNRESET|socket hang up/,
    );
    assert.deepEqual(reachedDriver, [], 'a refused client never reaches the driver');
  });
});

test('without ssl_ca_file, HTTPS serves clients without a certificate', async () => {
  await serving({ tls: serverTls(false) }, async (port) => {
    const r = await tlsPost(port, '/Plugin.Activate', '', {});
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { Implements: ['NetworkDriver', 'IpamDriver'] });
  });
});

test('the .json discovery file gives Docker the CA to verify Kuryr and the client certificate to present', async () => {
  const specDir = join(dir, 'etc-docker-plugins', 'kuryr-tls');
  const dockerTls = { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey };
  await serving({ tls: serverTls(true), specDir, pluginName: pluginNameForSpecDir(specDir), dockerTls }, async (port) => {
    const file = join(specDir, 'kuryr-tls.json');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), {
      Name: 'kuryr-tls',
      Addr: `https://127.0.0.1:${port}`,
      TLSConfig: { InsecureSkipVerify: false, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey },
    });
    assert.equal((await stat(file)).mode & 0o777, 0o644);
  });
});

test('a TLS spec Docker cannot use securely is written with a warning naming the options to set', async () => {
  const specDir = join(dir, 'kuryr');
  const { logger, text } = captureLogger();
  await serving({ tls: serverTls(true), specDir, logger }, async () => {
    const spec = JSON.parse(await readFile(join(specDir, 'kuryr.json'), 'utf8')) as { TLSConfig?: unknown };
    assert.deepEqual(spec.TLSConfig, { InsecureSkipVerify: true });
    assert.match(text(), /Docker will not verify Kuryr's certificate: set \[DEFAULT\] docker_ca_file/);
    assert.match(text(), /Docker is given none: set \[DEFAULT\] docker_client_cert_file and docker_client_key_file/);
  });
});

test('an http listener\'s spec has no TLSConfig', async () => {
  const specDir = join(dir, 'plain', 'kuryr');
  await serving({ scheme: 'http', specDir }, async (port) => {
    assert.deepEqual(JSON.parse(await readFile(join(specDir, 'kuryr.json'), 'utf8')), { Name: 'kuryr', Addr: `http://127.0.0.1:${port}` });
  });
});

test('the plugin name is the spec directory\'s, as Docker finds <root>/<name>/<name>.json', () => {
  assert.equal(pluginNameForSpecDir('/usr/lib/docker/plugins/kuryr'), 'kuryr');
  assert.equal(pluginNameForSpecDir('/etc/docker/plugins/kuryr-tls/'), 'kuryr-tls');
  assert.equal(pluginNameForSpecDir('/etc/docker/plugins'), 'kuryr');
  assert.equal(pluginNameForSpecDir('/usr/lib/docker/plugins/'), 'kuryr');
});

/** The JSON log lines `text` holds. */
const logLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string } & Record<string, unknown>);

test('with ssl_allowed_client_names, a CA-signed client whose CN is not listed gets 403 {"Err"} and reaches no driver; a listed one is served', async () => {
  const { logger, text } = captureLogger();
  await serving({ tls: { ...serverTls(true), allowedClientNames: [pki.clientName] }, logger }, async (port) => {
    reachedDriver.length = 0;
    const refused = await tlsPost(port, '/NetworkDriver.DeleteNetwork', DELETE_NETWORK, { cert: pki.secondClientCert, key: pki.secondClientKey });
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), {
      Err: `Kuryr refuses this client: its certificate has subject CN "${pki.secondClientName}", which is not in [DEFAULT] ssl_allowed_client_names`,
    });
    const ipam = await tlsPost(port, '/IpamDriver.RequestPool', '{}', { cert: pki.secondClientCert, key: pki.secondClientKey });
    assert.equal(ipam.status, 403);
    assert.deepEqual(Object.keys(JSON.parse(ipam.body) as object).sort(), ['Err', 'Error'], 'IPAM replies carry Error too');
    assert.deepEqual(reachedDriver, [], 'a refused client never reaches the driver');

    const ok = await tlsPost(port, '/NetworkDriver.DeleteNetwork', DELETE_NETWORK, { cert: pki.clientCert, key: pki.clientKey });
    assert.deepEqual(ok, { status: 200, body: '{}' });
    assert.deepEqual(reachedDriver, [NET]);
  });
  const refusals = logLines(text()).filter((l) => l.msg.startsWith('plugin call refused'));
  assert.equal(refusals.length, 2);
  assert.deepEqual({ ...refusals[0], time: undefined, pid: undefined, hostname: undefined }, {
    level: 40,
    msg: 'plugin call refused: client certificate name not in ssl_allowed_client_names',
    clientName: pki.secondClientName,
    method: 'NetworkDriver.DeleteNetwork',
    time: undefined,
    pid: undefined,
    hostname: undefined,
  });
});

test('every TCP kuryr_uri is served with a start-up warning: loopback reaches local users and host-network containers, other addresses the network', async () => {
  const cases = [
    { scheme: 'http', host: '127.0.0.1', level: 40, says: /is a TCP listener: any local user and any container in the host's network namespace can drive Kuryr, creating and deleting Neutron ports with its credentials; leave kuryr_uri empty/ },
    { scheme: 'http', host: '0.0.0.0', level: 50, says: /listens on 0\.0\.0\.0, not on loopback, without client certificates: anyone on the network who can reach it, any local user and any host-network container can create and delete Neutron ports/ },
    { scheme: 'https', host: '127.0.0.1', tls: { ...serverTls(true), allowedClientNames: ['docker-a'] }, level: 40, says: /clients presenting a certificate signed by ssl_ca_file whose subject CN is one of ssl_allowed_client_names \(docker-a\) can create and delete Neutron ports/ },
  ] as const;
  for (const c of cases) {
    const { logger, text } = captureLogger();
    await serving({ scheme: c.scheme, host: c.host, logger, ...('tls' in c ? { tls: c.tls } : {}) }, async () => undefined);
    const lines = logLines(text()).filter((l) => l.msg.startsWith('kuryr_uri '));
    assert.equal(lines.length, 1, `${c.scheme}://${c.host}: ${text()}`);
    assert.equal(lines[0]!.level, c.level, c.host);
    assert.match(lines[0]!.msg, c.says);
  }
});
