/**
 * The `vlan` port driver's Neutron side, on the real Neutron's trunk service: a VM port that is a
 * trunk parent, and Kuryr's VmTrunk making container ports its subports. The device side (a VLAN
 * child of link_iface) cannot run here: this kernel has no 802.1Q (`ip link add … type vlan`
 * answers "Unknown device type"); it is unit-tested by its exact requests (nested-vm-trunk.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { config, neutron, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { VmPort, VmTrunk } from '../../src/libnetwork/nested/index.js';
import { createOpenStackClients } from '../../src/openstack/index.js';
import { silentLogger } from '../../src/log.js';
import type { Network, Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const { session } = createOpenStackClients(config.neutron, silentLogger);

/** The trunk API beyond what Kuryr itself calls (an operator makes the trunk, not Kuryr). */
async function trunkRequest(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const base = (await session.endpointFor('network')).replace(/\/+$/, '').replace(/\/v2\.0$/, '');
  const res = await fetch(`${base}/v2.0/${path}`, {
    method,
    headers: { 'x-auth-token': await session.getToken(), 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

describe('vlan port driver: container ports as subports of the VM port\'s trunk (real Neutron)', () => {
  let network: Network;
  let subnetId: string;
  let vmPort: Port;
  let trunkId = '';
  const containerPorts: Port[] = [];

  before(async () => {
    network = await neutron.createNetwork({ name: `kt-trunk-${suffix}`, admin_state_up: true });
    subnetId = (await neutron.createSubnet({ name: `kt-trunk-${suffix}`, network_id: network.id, ip_version: 4, cidr: await freeCidr(4), enable_dhcp: false })).id;
    vmPort = await neutron.createPort({ network_id: network.id, name: `kt-trunk-vm-${suffix}`, device_owner: 'compute:nova' } as Partial<Port>);
    const made = await trunkRequest('POST', 'trunks', { trunk: { name: `kt-trunk-${suffix}`, port_id: vmPort.id } });
    trunkId = (made['trunk'] as { id: string }).id;
  });

  after(async () => {
    if (trunkId) {
      const held = (await neutron.getPort(vmPort.id)).trunk_details?.sub_ports ?? [];
      if (held.length) await neutron.removeTrunkSubports(trunkId, held.map((s) => s.port_id)).catch(() => undefined);
      await trunkRequest('DELETE', `trunks/${trunkId}`).catch(() => undefined);
    }
    for (const p of [...containerPorts, vmPort]) if (p) await neutron.deletePort(p.id).catch(() => undefined);
    if (network) await neutron.deleteNetwork(network.id).catch(() => undefined);
  });

  const vmOf = async () => {
    const vm = new VmPort(neutron, 'eth0', async () => vmPort.mac_address);
    await vm.locate();
    return vm;
  };
  const subports = async () => (await neutron.getPort(vmPort.id)).trunk_details?.sub_ports ?? [];

  test('the VM port is found by its MAC and is the trunk\'s parent', async () => {
    const vm = await vmOf();
    assert.equal(vm.port.id, vmPort.id);
    assert.equal(VmTrunk.trunkOf(vm.port, 'eth0').trunk_id, trunkId);
  });

  test('30 parallel attaches: 30 subports, each with its own VLAN id in 1-4094', async () => {
    for (let i = 0; i < 30; i++) containerPorts.push(await neutron.createPort({ network_id: network.id, name: `kt-trunk-c${i}-${suffix}`, fixed_ips: [{ subnet_id: subnetId }] } as Partial<Port>));
    const trunk = new VmTrunk(neutron, await vmOf());
    const ids = await Promise.all(containerPorts.map((p) => trunk.addSubport(p)));
    assert.equal(new Set(ids).size, 30, `no id twice: ${ids.join(', ')}`);
    assert.ok(ids.every((id) => id >= 1 && id <= 4094));
    const held = await subports();
    assert.deepEqual(held.map((s) => s.port_id).sort(), containerPorts.map((p) => p.id).sort());
    assert.ok(held.every((s) => s.segmentation_type === 'vlan' && ids[containerPorts.findIndex((p) => p.id === s.port_id)] === s.segmentation_id), 'Neutron holds the ids Kuryr chose');
  });

  test('a restarted daemon reads the ids in use from the trunk: its next id is none of them; an attach already done keeps its id', async () => {
    const inUse = new Set((await subports()).map((s) => s.segmentation_id));
    const restarted = new VmTrunk(neutron, await vmOf());
    const again = await restarted.addSubport(containerPorts[0]!);
    assert.equal(again, (await subports()).find((s) => s.port_id === containerPorts[0]!.id)!.segmentation_id, 'a retried attach keeps its subport and id');
    const next = await neutron.createPort({ network_id: network.id, name: `kt-trunk-next-${suffix}`, fixed_ips: [{ subnet_id: subnetId }] } as Partial<Port>);
    containerPorts.push(next);
    assert.ok(!inUse.has(await restarted.addSubport(next)));
  });

  test('removing the subports frees their ids: the trunk holds none of them after', async () => {
    const trunk = new VmTrunk(neutron, await vmOf());
    await Promise.all(containerPorts.map((p) => trunk.removeSubport(p)));
    assert.deepEqual(await subports(), []);
    await trunk.removeSubport(containerPorts[0]!); // a second removal is no error
  });
});
