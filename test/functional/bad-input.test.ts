import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { config, neutron, plugin } from './harness.js';

const NET = 'e'.repeat(64);
const EP = 'f'.repeat(64);
const POOL = '00000000-0000-4000-8000-000000000000';

/** Everything in Neutron a bad call could have touched. */
async function snapshot(): Promise<string> {
  const [nets, subnets, ports, pools, groups] = await Promise.all([
    neutron.listNetworks(),
    neutron.listSubnets(),
    neutron.listPorts(),
    neutron.listSubnetPools(),
    neutron.listSecurityGroups(),
  ]);
  const ids = (xs: { id: string; tags?: string[] }[]) => xs.map((x) => `${x.id}:${(x.tags ?? []).join('|')}`).sort();
  return JSON.stringify([ids(nets), ids(subnets), ids(ports), ids(pools), ids(groups)]);
}

function raw(path: string, body: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: config.socketPath, path, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const hostile: [string, unknown, number][] = [
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.5/24' }], IPv6Data: [] }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24' }], IPv6Data: [], Options: { 'com.docker.network.generic': { 'neutron.net.uid': 'x' } } }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24', Gateway: '10.9.9.9/24' }], IPv6Data: [] }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24' }], IPv6Data: [], Options: { 'com.docker.network.generic': { 'kuryr.pool.min': 'lots' } } }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24' }], IPv6Data: [], Options: { 'com.docker.network.generic': { 'kuryr.pool': 'false', 'kuryr.pool.min': '30' } } }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.123.231.0/24' }], IPv6Data: [] }, 404],
  ['NetworkDriver.CreateNetwork', { NetworkID: '$(reboot)', IPv4Data: [], IPv6Data: [] }, 400],
  ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: 'x'.repeat(100_000), IPv6Data: [] }, 400],
  ['NetworkDriver.DeleteNetwork', { NetworkID: ['a'] }, 400],
  ['NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.5/24' } }, 404],
  ['NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: {} }, 400],
  ['NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '999.0.0.1/24' } }, 400],
  ['NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/0123456789ab' }, 404],
  ['NetworkDriver.Join', { NetworkID: NET, EndpointID: EP }, 400],
  ['NetworkDriver.EndpointOperInfo', { NetworkID: NET }, 400],
  ['NetworkDriver.Leave', { EndpointID: EP }, 400],
  ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.endpoint.exposedports': [{ Proto: 99, Port: 1 }] } }, 400],
  ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }] } }, 404],
  ['NetworkDriver.RevokeExternalConnectivity', { NetworkID: 1 }, 400],
  ['NetworkDriver.AllocateNetwork', { NetworkID: NET, Options: { a: 1 } }, 400],
  ['IpamDriver.RequestPool', { AddressSpace: 'x', Pool: '', SubPool: '10.0.0.0/24', V6: false }, 400],
  ['IpamDriver.RequestPool', { AddressSpace: 'x', Pool: '10.0.0.0/24', SubPool: '', V6: true }, 400],
  ['IpamDriver.RequestPool', { AddressSpace: 'x', Pool: 'fe80::/300', SubPool: '', V6: true }, 400],
  ['IpamDriver.RequestPool', { AddressSpace: 'x', Pool: '10.0.0.0/24', SubPool: '', V6: false, Options: { 'neutron.pool.uuid': POOL } }, 404],
  ['IpamDriver.RequestAddress', { PoolID: POOL, Address: '', Options: {} }, 404],
  ['IpamDriver.RequestAddress', { PoolID: POOL, Address: 'not-an-ip', Options: {} }, 400],
  ['IpamDriver.RequestAddress', { PoolID: 'x'.repeat(5000), Address: '' }, 400],
  ['IpamDriver.ReleaseAddress', { PoolID: POOL }, 400],
  ['IpamDriver.ReleasePool', {}, 400],
];

test('malformed and hostile input to every endpoint: the protocol\'s error shape, no Neutron change, daemon still serving', async () => {
  const before = await snapshot();
  for (const [method, body, status] of hostile) {
    const r = await plugin(method, body);
    assert.equal(r.status, status, `${method} ${JSON.stringify(body).slice(0, 120)} -> ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body['Err'], 'string', `${method} answers {"Err": ...}`);
    assert.ok(String(r.body['Err']).length > 0 && String(r.body['Err']).length < 2000, 'the error is a readable message');
    if (method.startsWith('IpamDriver.')) assert.equal(r.body['Error'], r.body['Err'], 'IPAM errors also carry Error');
  }
  for (const path of ['/NetworkDriver.CreateNetwork', '/IpamDriver.RequestPool', '/NetworkDriver.Join']) {
    for (const body of ['{', 'null', '"text"', '[]', '{"NetworkID":' + '['.repeat(5000)]) {
      const r = await raw(path, body);
      assert.ok(r.status >= 400 && r.status < 500, `${path} ${body.slice(0, 20)} -> ${r.status}`);
      assert.equal(typeof JSON.parse(r.text).Err, 'string');
    }
  }
  const big = await raw('/NetworkDriver.CreateNetwork', Buffer.alloc(3 * 1024 * 1024, 'a'));
  assert.equal(big.status, 413, 'an oversized body is refused');
  assert.equal(await snapshot(), before, 'nothing changed in Neutron');
  const alive = await plugin('Plugin.Activate');
  assert.equal(alive.status, 200, 'the daemon still serves');
});

test('repeated deletes of things that do not exist succeed, as Docker\'s rollbacks need', async () => {
  const before = await snapshot();
  for (const [method, body] of [
    ['NetworkDriver.DeleteNetwork', { NetworkID: NET }],
    ['NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP }],
    ['NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP }],
    ['NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP }],
    ['IpamDriver.ReleasePool', { PoolID: POOL }],
    ['IpamDriver.ReleaseAddress', { PoolID: POOL, Address: '10.0.0.5' }],
  ] as const) {
    for (let i = 0; i < 2; i++) {
      const r = await plugin(method, body);
      assert.equal(r.status, 200, `${method}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(r.body, {});
    }
  }
  assert.equal(await snapshot(), before);
});
