/**
 * RequestAddress adopting an operator's pre-created port where another path competes for it, judged
 * by the ports in (in-memory) Neutron: a `--mac-address` on a pooled network, and the two families
 * of one dual-stack port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPT_MAC } from '../../src/libnetwork/api.js';
import { KuryrError } from '../../src/errors.js';
import { PORT_EXISTING_TAG, PORT_POOLED_TAG } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';
import { dockerId, networkCreate, run, testConfig, wire, type Wired } from './libnetwork-docker.js';

const OPERATOR_MAC = 'fa:16:3e:00:00:50';

const freePooled = (w: Wired): Port[] => [...w.ports.values()].filter((p) => p.tags.includes(PORT_POOLED_TAG) && p.device_id === '');

async function filled(w: Wired, count: number): Promise<void> {
  for (let turn = 0; turn < 1000 && freePooled(w).length < count; turn++) await new Promise((r) => setImmediate(r));
  await w.settle();
}

test('--mac-address on a pooled network adopts the operator\'s port with that MAC; no pooled port is taken', async () => {
  const w = wire(testConfig({ min: 2, batch: 2 }));
  const network = await networkCreate(w, '10.60.1.0/24', { 'kuryr.pool': 'true' });
  await filled(w, 2);
  const subnet = [...w.subnets.values()][0]!;
  const pre = await w.neutron.createPort({ network_id: subnet.network_id, mac_address: OPERATOR_MAC, fixed_ips: [{ subnet_id: subnet.id, ip_address: '10.60.1.50' }] });

  const endpoint = await run(w, network, OPERATOR_MAC);
  await w.settle();
  assert.equal(endpoint.address, '10.60.1.50/24', 'the operator port\'s address');
  const adopted = w.ports.get(pre.id)!;
  assert.equal(adopted.device_id, endpoint.id);
  assert.ok(adopted.tags.includes(PORT_EXISTING_TAG));
  assert.equal(freePooled(w).length, 2, 'both pooled ports are still free');
});

test('a Docker-generated MAC (02:42:…) on a pooled network still takes a pooled port', async () => {
  const w = wire(testConfig({ min: 2, batch: 2 }));
  const network = await networkCreate(w, '10.60.2.0/24', { 'kuryr.pool': 'true' });
  await filled(w, 2);
  const pooled = new Set(freePooled(w).map((p) => p.id));
  const endpoint = await run(w, network);
  await w.settle();
  const port = [...w.ports.values()].find((p) => p.device_id === endpoint.id)!;
  assert.ok(pooled.has(port.id), 'the endpoint\'s port came from the pool');
});

/** A dual-stack network as Docker makes it: a pool per family, then CreateNetwork. */
async function dualStackNetwork(w: Wired): Promise<{ v4: string; v6: string }> {
  const v4 = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: '10.60.3.0/24', SubPool: '', Options: {}, V6: false });
  const v6 = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: 'fd60:3::/64', SubPool: '', Options: {}, V6: true });
  await w.net.createNetwork({
    NetworkID: dockerId(),
    Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: 'local_scope', Pool: v4.Pool, Gateway: '10.60.3.1/24' }],
    IPv6Data: [{ AddressSpace: 'local_scope', Pool: v6.Pool, Gateway: 'fd60:3::1/64' }],
  });
  return { v4: v4.PoolID, v6: v6.PoolID };
}

async function dualStackOperatorPort(w: Wired): Promise<Port> {
  const [s4, s6] = [...w.subnets.values()].sort((a, b) => a.ip_version - b.ip_version);
  return w.neutron.createPort({ network_id: s4!.network_id, fixed_ips: [{ subnet_id: s4!.id, ip_address: '10.60.3.50' }, { subnet_id: s6!.id, ip_address: 'fd60:3::50' }] });
}

test('--ip and --ip6 of one dual-stack port: the second family joins the first one\'s adoption', async () => {
  const w = wire();
  const pools = await dualStackNetwork(w);
  const pre = await dualStackOperatorPort(w);
  const mac = '02:42:0a:3c:03:32';
  const a4 = await w.ipam.requestAddress({ PoolID: pools.v4, Address: '10.60.3.50', Options: { [OPT_MAC]: mac } });
  const a6 = await w.ipam.requestAddress({ PoolID: pools.v6, Address: 'fd60:3::50', Options: { [OPT_MAC]: mac } });
  assert.deepEqual([a4.Address, a6.Address], ['10.60.3.50/24', 'fd60:3::50/64']);
  assert.deepEqual([...w.ports.keys()], [pre.id], 'no port was made for either family');
  assert.ok(w.ports.get(pre.id)!.tags.includes(PORT_EXISTING_TAG));
});

test('another container (another MAC) asking for the second address of a port being adopted is refused', async () => {
  const w = wire();
  const pools = await dualStackNetwork(w);
  await dualStackOperatorPort(w);
  await w.ipam.requestAddress({ PoolID: pools.v4, Address: '10.60.3.50', Options: { [OPT_MAC]: '02:42:0a:3c:03:32' } });
  await assert.rejects(
    w.ipam.requestAddress({ PoolID: pools.v6, Address: 'fd60:3::50', Options: { [OPT_MAC]: '02:42:0a:3c:03:99' } }),
    (e: unknown) => e instanceof KuryrError && /already used by a Kuryr port/.test(e.message),
  );
});
