import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notFound } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { PluginServer } from '../../src/libnetwork/server.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const calls: string[] = [];

/** A driver that records calls; individual methods are overridden per behaviour. */
const net = new Proxy({} as NetworkDriver, {
  get: (_t, name: string) => {
    if (name === 'getCapabilities') return () => ({ Scope: 'local', ConnectivityScope: 'local' });
    if (name === 'join') return async () => { throw notFound('endpoint has no port'); };
    if (name === 'leave') return async () => { throw new TypeError('boom'); };
    return async (req: unknown) => { calls.push(`${name} ${JSON.stringify(req)}`); return {}; };
  },
});
const ipam = new Proxy({} as IpamDriver, {
  get: (_t, name: string) => {
    if (name === 'getCapabilities') return () => ({ RequiresMACAddress: true, RequiresRequestReplay: false });
    if (name === 'requestPool') return async () => { throw notFound('no such pool'); };
    return async () => ({});
  },
});

let dir: string;
let socketPath: string;
const server = new PluginServer(new PluginProtocol(net, ipam, silentLogger), silentLogger);

function post(path: string, body: string | undefined): Promise<{ status: number; json: Record<string, unknown>; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', headers: { 'content-type': 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kuryr-proto-'));
  socketPath = join(dir, 'kuryr.sock');
  await server.listen({ socketPath, uri: '', specDir: '', pluginName: 'kuryr' });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('Plugin.Activate answers the manifest with no body, in Docker\'s content type', async () => {
  const r = await post('/Plugin.Activate', undefined);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { Implements: ['NetworkDriver', 'IpamDriver'] });
  assert.match(r.type, /application\/vnd\.docker\.plugins\.v1\+json/);
});

test('the plugin socket is reachable by its owner only', async () => {
  assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
});

test('a valid call reaches the driver with the decoded request', async () => {
  calls.length = 0;
  const r = await post('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {});
  assert.deepEqual(calls, [`deleteNetwork {"NetworkID":"${NET}"}`]);
});

test('malformed JSON is a 400 in the Err shape and never reaches the driver', async () => {
  calls.length = 0;
  const r = await post('/NetworkDriver.CreateNetwork', '{"NetworkID": ');
  assert.equal(r.status, 400);
  assert.match(String(r.json['Err']), /not valid JSON/);
  assert.deepEqual(calls, []);
});

test('schema violations name the field and never reach the driver', async () => {
  calls.length = 0;
  const cases: [string, unknown, RegExp][] = [
    ['/NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [] }, /IPv6Data is required/],
    ['/NetworkDriver.CreateNetwork', { NetworkID: 'x;rm -rf /', IPv4Data: [], IPv6Data: [] }, /NetworkID is malformed/],
    ['/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { MacAddress: 'zz:zz' } }, /MacAddress is malformed/],
    ['/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: 'relative/path' }, /SandboxKey is malformed/],
    ['/NetworkDriver.DeleteEndpoint', [1, 2, 3], /must be object/],
    ['/IpamDriver.RequestAddress', { PoolID: '../../etc', Address: '' }, /PoolID is malformed/],
  ];
  for (const [path, body, message] of cases) {
    const r = await post(path, JSON.stringify(body));
    assert.equal(r.status, 400, path);
    assert.match(String(r.json['Err']), message, `${path}: ${String(r.json['Err'])}`);
  }
  assert.deepEqual(calls, []);
});

test('a driver error keeps its status; IPAM errors also carry the Error field Docker reads', async () => {
  const j = await post('/NetworkDriver.Join', JSON.stringify({ NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/abc' }));
  assert.equal(j.status, 404);
  assert.deepEqual(j.json, { Err: 'endpoint has no port' });
  const p = await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'x', Pool: '', SubPool: '', V6: false }));
  assert.equal(p.status, 404);
  assert.deepEqual(p.json, { Err: 'no such pool', Error: 'no such pool' });
});

test('an unexpected exception is a 500 and the daemon keeps serving', async () => {
  const r = await post('/NetworkDriver.Leave', JSON.stringify({ NetworkID: NET, EndpointID: EP }));
  assert.equal(r.status, 500);
  assert.match(String(r.json['Err']), /internal error: boom/);
  const again = await post('/Plugin.Activate', undefined);
  assert.equal(again.status, 200);
});

test('an unknown method is a 404 in the Err shape', async () => {
  const r = await post('/NetworkDriver.Explode', '{}');
  assert.equal(r.status, 404);
  assert.match(String(r.json['Err']), /does not implement/);
});
