/**
 * Kuryr inside a Nova VM with the `vlan` port driver, judged by the VM port's trunk in (in-memory)
 * Neutron and the devices on the (in-memory) host: each container's port becomes a subport with a
 * VLAN id of its own, read from the trunk every time (nothing kept in memory), parallel attaches
 * never share an id, and an id is free again once its subport is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binder } from '../../src/binding/index.js';
import { FakeHostNetwork } from '../../src/binding/host/fake.js';
import { containerIfName } from '../../src/binding/naming.js';
import { KuryrError } from '../../src/errors.js';
import { nestedBinderFor } from '../../src/libnetwork/nested/index.js';
import { VmPort } from '../../src/libnetwork/nested/vm-port.js';
import { MAX_VLAN_ID, VmTrunk, freeVlanId } from '../../src/libnetwork/nested/vm-trunk.js';
import { silentLogger } from '../../src/log.js';
import type { Port } from '../../src/openstack/neutron-types.js';
import { memoryNeutron } from './libnetwork-fakes.js';

const VM_MAC = 'fa:16:3e:00:00:02';
const TRUNK_ID = 'trunk-1';

async function vmSetup(opts: { trunk?: boolean; usedIds?: number[] } = {}) {
  const { neutron } = memoryNeutron();
  const network = await neutron.createNetwork({ name: 'vm-net' });
  const subnet = await neutron.createSubnet({ network_id: network.id, ip_version: 4, cidr: '10.71.0.0/24' });
  const operatorsSubport = await neutron.createPort({ network_id: network.id });
  const trunk = opts.trunk === false ? {} : { trunk_details: { trunk_id: TRUNK_ID, sub_ports: (opts.usedIds ?? []).map((id) => ({ port_id: operatorsSubport.id, segmentation_type: 'vlan', segmentation_id: id })) } };
  const vmPort = await neutron.createPort({ network_id: network.id, mac_address: VM_MAC, device_owner: 'compute:nova', ...trunk });
  const host = new FakeHostNetwork();
  host.addLink('eth0', { kind: 'other', mac: VM_MAC, mtu: 1450, up: true });
  const vm = new VmPort(neutron, 'eth0', async () => VM_MAC);
  await vm.locate();
  const binder = new Binder({ host, config: { vethDstPrefix: 'eth', defaultDriver: 'vlan', enabledDrivers: ['vlan'], linkIface: 'eth0' }, logger: silentLogger });
  const containerPort = (n: number) => neutron.createPort({ network_id: network.id, mac_address: `fa:16:3e:00:02:${n.toString(16).padStart(2, '0')}`, fixed_ips: [{ subnet_id: subnet.id, ip_address: `10.71.0.${10 + n}` }] });
  const subports = async () => (await neutron.getPort(vmPort.id)).trunk_details?.sub_ports ?? [];
  return { neutron, host, vm, vmPort, ports: nestedBinderFor('vlan', { binder, vm, neutron }), containerPort, subports, network };
}

test('a VM port that is no trunk parent is refused at start, naming link_iface and what to do', async () => {
  const s = await vmSetup({ trunk: false });
  assert.throws(() => VmTrunk.trunkOf(s.vm.port, 'eth0'), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && /link_iface = eth0\) to be a trunk parent/.test(e.message));
});

test('bind makes the port a subport with a free VLAN id and a VLAN child of link_iface with that id and the port\'s MAC; unbind frees the id', async () => {
  const s = await vmSetup({ usedIds: [100] });
  const port = await s.containerPort(1);
  await s.ports.bind(port, { id: s.network.id, mtu: 1450 }, 'ep-1');
  const mine = (await s.subports()).find((p) => p.port_id === port.id);
  assert.ok(mine && mine.segmentation_type === 'vlan' && mine.segmentation_id !== 100, `a subport with an id of its own: ${JSON.stringify(mine)}`);
  assert.ok(s.host.ipLines.some((l) => l.includes(`link add link eth0 name ${containerIfName(port.id)}`) && l.includes(`type vlan id ${mine.segmentation_id}`)), s.host.ipLines.join('\n'));
  assert.ok(s.host.ipLines.some((l) => l.includes(port.mac_address)), 'the device carries the port\'s MAC');
  assert.equal(await s.ports.hostEndExists(port), true);

  await s.ports.unbind(port, 'ep-1');
  assert.deepEqual((await s.subports()).map((p) => p.segmentation_id), [100], 'only the operator\'s subport is left');
  assert.equal(await s.host.getLink(containerIfName(port.id)), undefined);
});

test('30 parallel attaches get 30 different ids; a second daemon (a restart) reads the ids in use from the trunk', async () => {
  const s = await vmSetup();
  const ports: Port[] = [];
  for (let n = 0; n < 30; n++) ports.push(await s.containerPort(n));
  await Promise.all(ports.map((p, n) => s.ports.bind(p, { id: s.network.id }, `ep-${n}`)));
  const ids = (await s.subports()).map((p) => p.segmentation_id);
  assert.equal(ids.length, 30);
  assert.equal(new Set(ids).size, 30, 'no id twice');

  const restarted = new VmTrunk(s.neutron, s.vm);
  const next = await s.containerPort(99);
  const id = await restarted.addSubport(next);
  assert.ok(!ids.includes(id), `the restarted daemon's id ${id} is none of the 30 in use`);
  await Promise.all(ports.map((p, n) => s.ports.unbind(p, `ep-${n}`)));
  assert.deepEqual((await s.subports()).map((p) => p.port_id), [next.id], 'every unbound port left the trunk');
});

test('an attach that loses its id to another writer reads the trunk again and takes another', async () => {
  const s = await vmSetup();
  const port = await s.containerPort(5);
  const rival = await s.containerPort(6);
  const add = s.neutron.addTrunkSubports;
  let raced = false;
  s.neutron.addTrunkSubports = async (trunkId, subports) => {
    if (!raced) {
      raced = true; // someone else takes the very id Kuryr chose, just before Kuryr's call lands
      await add(trunkId, [{ ...subports[0]!, port_id: rival.id }]);
    }
    return add(trunkId, subports);
  };
  const trunk = new VmTrunk(s.neutron, s.vm);
  const id = await trunk.addSubport(port);
  const held = await s.subports();
  assert.equal(held.length, 2);
  assert.notEqual(id, held.find((p) => p.port_id === rival.id)!.segmentation_id);
});

test('freeVlanId picks among the ids not in use, and none when all 4094 are', () => {
  assert.equal(freeVlanId(new Set([1, 2, 3]), () => 0), 4);
  assert.equal(freeVlanId(new Set(), () => 0.999999), MAX_VLAN_ID);
  assert.equal(freeVlanId(new Set(Array.from({ length: MAX_VLAN_ID }, (_, i) => i + 1))), undefined);
});
