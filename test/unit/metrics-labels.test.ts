/**
 * Metrics labels come from closed sets: whatever paths callers send and whatever Neutron answers,
 * the registry holds a fixed number of series, so nobody can grow the daemon's memory through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/log.js';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol, UNKNOWN_METHOD } from '../../src/libnetwork/protocol.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { NEUTRON_RESOURCES, NeutronClient } from '../../src/openstack/neutron.js';
import { Metrics, parseExposition, summarise, type Sample } from '../../src/metrics/index.js';
import { networkCatalog, passwordAuth, send, startFakeKeystone, startServer } from './openstack-fake-servers.js';

async function samples(metrics: Metrics, name: string): Promise<Sample[]> {
  return parseExposition(await metrics.text()).filter((s) => s.name === name);
}

const labelValues = (list: Sample[], label: string): string[] => [...new Set(list.map((s) => s.labels[label] ?? ''))].sort();

test('Docker calls to paths Kuryr does not implement all count under method="unknown"', async () => {
  const metrics = new Metrics();
  const net = { leave: async () => ({}) } as unknown as NetworkDriver;
  const protocol = new PluginProtocol(net, {} as IpamDriver, silentLogger, { observe: metrics.observeDockerCall });
  const paths = [
    ...Array.from({ length: 500 }, () => `/${randomBytes(8).toString('hex')}`),
    '/NetworkDriver.Nope',
    '/networkdriver.leave', // routes are case-sensitive, as Docker sends them
    '/NetworkDriver.Leave/extra',
    '/__proto__',
    '/constructor',
    `/${'x'.repeat(5000)}`,
  ];
  for (const path of paths) assert.equal((await protocol.handle(path, '{}')).status, 404, path);
  await protocol.handle('/NetworkDriver.Leave', JSON.stringify({ NetworkID: 'a'.repeat(64), EndpointID: 'b'.repeat(64) }));

  const calls = await samples(metrics, 'kuryr_docker_calls_total');
  assert.deepEqual(labelValues(calls, 'method'), ['NetworkDriver.Leave', UNKNOWN_METHOD]);
  assert.equal(calls.find((s) => s.labels['method'] === UNKNOWN_METHOD && s.labels['outcome'] === 'error')?.value, paths.length);
  const durations = await samples(metrics, 'kuryr_docker_call_duration_seconds_count');
  assert.deepEqual(labelValues(durations, 'method'), ['NetworkDriver.Leave', UNKNOWN_METHOD]);
  // The caller still learns which path was not found.
  const reply = await protocol.handle('/NetworkDriver.Nope', '{}');
  assert.deepEqual(reply.body, { Err: 'Kuryr does not implement "NetworkDriver.Nope"' });
});

test('Neutron request labels: known resources, methods and statuses as they are; anything else folds into "other" or a status class', async () => {
  const metrics = new Metrics();
  const observe = (resource: string, method: string, status: number) => metrics.observeNeutronRequest({ resource, method, status, durationMs: 1 });
  observe('ports', 'GET', 200);
  observe('ports', 'DELETE', 404);
  observe('networks', 'GET', 0);
  for (let i = 0; i < 200; i++) observe(randomBytes(6).toString('hex'), 'GET', 200);
  observe('ports', 'BREW', 200);
  for (const status of [418, 299, 599, 103, 999, -1]) observe('subnets', 'PUT', status);

  const requests = await samples(metrics, 'kuryr_neutron_requests_total');
  for (const s of requests) assert.ok(s.labels['resource'] === 'other' || NEUTRON_RESOURCES.has(s.labels['resource']!), s.labels['resource']);
  assert.deepEqual(labelValues(requests, 'resource'), ['networks', 'other', 'ports', 'subnets']);
  assert.deepEqual(labelValues(requests, 'method'), ['DELETE', 'GET', 'PUT', 'other']);
  assert.deepEqual(labelValues(requests, 'status'), ['0', '1xx', '200', '2xx', '404', '4xx', '5xx', 'other']);
  assert.equal(requests.find((s) => s.labels['resource'] === 'other')?.value, 200);
  assert.equal(labelValues(await samples(metrics, 'kuryr_neutron_request_duration_seconds_count'), 'resource').length, 4);

  // kuryr status still tells refusals (4xx) from failures (5xx, no answer) when a status is only a class.
  const summary = summarise(parseExposition(await metrics.text()));
  const put = summary.neutron.find((s) => s.resource === 'subnets' && s.method === 'PUT');
  assert.deepEqual({ requests: put?.requests, refused: put?.refused, failed: put?.failed }, { requests: 6, refused: 1, failed: 1 });
  const get = summary.neutron.find((s) => s.resource === 'networks' && s.method === 'GET');
  assert.equal(get?.failed, 1);
});

test('every request the Neutron client can make is labelled with a resource of NEUTRON_RESOURCES', async () => {
  const ks = await startFakeKeystone();
  // Answers every request in shape: creates and updates echo their body with ids, deletes 204.
  const fake = await startServer((req, res) => {
    if (req.method === 'DELETE') return send(res, 204);
    if (req.method === 'GET') return send(res, 200, {});
    const [key, value] = Object.entries((req.body ?? {}) as Record<string, unknown>)[0] ?? ['x', {}];
    const withId = (v: unknown) => ({ id: 'x', tags: [], ...(v as object) });
    send(res, req.method === 'POST' ? 201 : 200, { [key]: Array.isArray(value) ? value.map(withId) : key === 'tags' ? value : withId(value) });
  });
  ks.catalog = networkCatalog(fake.url);
  const session = new KeystoneSession({ auth: passwordAuth(ks.url), tls: { insecure: false }, timeout: 5, endpointType: 'public', regionName: 'RegionOne' });
  const resources = new Set<string>();
  const client = new NeutronClient({ session, onRequest: (info) => resources.add(info.resource), retryBackoffMs: [] });
  const calls: Record<string, () => Promise<unknown>> = {
    listExtensions: () => client.listExtensions(),
    listNetworks: () => client.listNetworks(),
    getNetwork: () => client.getNetwork('n'),
    createNetwork: () => client.createNetwork({ name: 'n', tags: ['t'] } as never),
    deleteNetwork: () => client.deleteNetwork('n'),
    listSubnets: () => client.listSubnets(),
    getSubnet: () => client.getSubnet('s'),
    createSubnet: () => client.createSubnet({ network_id: 'n' } as never),
    deleteSubnet: () => client.deleteSubnet('s'),
    listSubnetPools: () => client.listSubnetPools(),
    getSubnetPool: () => client.getSubnetPool('p'),
    createSubnetPool: () => client.createSubnetPool({ name: 'p' } as never),
    deleteSubnetPool: () => client.deleteSubnetPool('p'),
    listPorts: () => client.listPorts(),
    getPort: () => client.getPort('p'),
    createPort: () => client.createPort({ network_id: 'n' } as never),
    createPorts: () => client.createPorts([{ network_id: 'n' }] as never),
    updatePort: () => client.updatePort('p', { name: 'q' }),
    deletePort: () => client.deletePort('p'),
    deletePorts: () => client.deletePorts(['p', 'q']),
    replaceTags: () => client.replaceTags('ports', 'p', ['t']),
    addTag: () => client.addTag('networks', 'n', 't'),
    removeTag: () => client.removeTag('subnetpools', 'p', 't'),
    listSecurityGroups: () => client.listSecurityGroups(),
    createSecurityGroup: () => client.createSecurityGroup({ name: 'g' }),
    deleteSecurityGroup: () => client.deleteSecurityGroup('g'),
    createSecurityGroupRules: () => client.createSecurityGroupRules([{ security_group_id: 'g' }] as never),
    addTrunkSubports: () => client.addTrunkSubports('t', []),
    removeTrunkSubports: () => client.removeTrunkSubports('t', []),
    listFloatingIps: () => client.listFloatingIps(),
    listPortForwardings: () => client.listPortForwardings('f'),
    createPortForwarding: () => client.createPortForwarding('f', {} as never),
    deletePortForwarding: () => client.deletePortForwarding('f', 'x'),
  };
  try {
    const methods = Object.getOwnPropertyNames(NeutronClient.prototype).filter(
      (name) => name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(NeutronClient.prototype, name)?.value === 'function',
    );
    assert.deepEqual(Object.keys(calls).sort(), methods.sort(), 'every method of the client is exercised here');
    for (const [name, call] of Object.entries(calls)) await call().catch((err: unknown) => assert.fail(`${name}: ${String(err)}`));
    assert.deepEqual([...resources].filter((r) => !NEUTRON_RESOURCES.has(r)), []);
    assert.deepEqual([...resources].sort(), [...NEUTRON_RESOURCES].sort(), 'and every resource label is used');
  } finally {
    await session.close();
    await fake.close();
    await ks.close();
  }
});
