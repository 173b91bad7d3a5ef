/**
 * Kuryr inside a Nova VM (`nested` port driver), judged by the VM port's allowed_address_pairs in
 * (in-memory) Neutron and the devices on the (in-memory) host: the VM port is found by
 * link_iface's MAC, each container adds exactly its pairs and removes exactly them, parallel
 * containers lose none (revision-guarded updates), and the operator's own pairs are never touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binder } from '../../src/binding/index.js';
import { FakeHostNetwork } from '../../src/binding/host/fake.js';
import { containerIfName } from '../../src/binding/naming.js';
import { KuryrError } from '../../src/errors.js';
import { nestedPortBinder, type NestedPairMode } from '../../src/libnetwork/nested/port-binder.js';
import { VmPort } from '../../src/libnetwork/nested/vm-port.js';
import { silentLogger } from '../../src/log.js';
import type { AllowedAddressPair, Port } from '../../src/openstack/neutron-types.js';
import { memoryNeutron, type MemoryNeutron } from './libnetwork-fakes.js';

const VM_MAC = 'fa:16:3e:00:00:01';
const OPERATORS_PAIR: AllowedAddressPair = { ip_address: '10.70.0.200', mac_address: 'fa:16:3e:99:99:99' };

async function vmSetup(mode: NestedPairMode = 'macvlan') {
  const memory: MemoryNeutron = memoryNeutron();
  const { neutron } = memory;
  const network = await neutron.createNetwork({ name: 'vm-net' });
  const subnet = await neutron.createSubnet({ network_id: network.id, ip_version: 4, cidr: '10.70.0.0/24' });
  const vmPortBefore = await neutron.createPort({ network_id: network.id, mac_address: VM_MAC, device_owner: 'compute:nova', allowed_address_pairs: [OPERATORS_PAIR] });
  const host = new FakeHostNetwork();
  host.addLink('eth0', { kind: 'other', mac: VM_MAC, mtu: 1450, up: true });
  const vm = new VmPort(neutron, 'eth0', async () => (await host.getLink('eth0'))?.mac);
  await vm.locate();
  const binder = new Binder({ host, config: { vethDstPrefix: 'eth', defaultDriver: mode, enabledDrivers: ['veth', 'macvlan', 'ipvlan'], linkIface: 'eth0' }, logger: silentLogger });
  const containerPort = (n: number) =>
    neutron.createPort({ network_id: network.id, mac_address: `fa:16:3e:00:01:${n.toString(16).padStart(2, '0')}`, fixed_ips: [{ subnet_id: subnet.id, ip_address: `10.70.0.${10 + n}` }] });
  return { memory, neutron, host, vm, vmPortId: vmPortBefore.id, ports: nestedPortBinder(binder, mode, vm), containerPort, network };
}

const pairsOn = async (s: Awaited<ReturnType<typeof vmSetup>>) => (await s.neutron.getPort(s.vmPortId)).allowed_address_pairs ?? [];

test('the VM port is the one Neutron port with link_iface\'s MAC', async () => {
  const s = await vmSetup();
  assert.equal(s.vm.port.id, s.vmPortId);
  assert.equal(s.vm.port.network_id, s.network.id);
});

test('a link_iface whose MAC no Neutron port has stops the daemon at start, naming link_iface', async () => {
  const { neutron } = memoryNeutron();
  const vm = new VmPort(neutron, 'ens3', async () => 'fa:16:3e:ab:cd:ef');
  await assert.rejects(vm.locate(), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && /link_iface = ens3 has MAC fa:16:3e:ab:cd:ef, which is not the MAC of any Neutron port/.test(e.message));
  const missing = new VmPort(neutron, 'ens9', async () => undefined);
  await assert.rejects(missing.locate(), (e: unknown) => e instanceof KuryrError && /link_iface = ens9: no such interface/.test(e.message));
});

test('macvlan: bind makes a bridge-mode macvlan child of link_iface with the port\'s MAC and adds the port\'s pair; unbind removes exactly that', async () => {
  const s = await vmSetup('macvlan');
  const port = await s.containerPort(1);
  const r = await s.ports.bind(port, { id: s.network.id, mtu: 1450 }, 'ep-1');
  assert.equal(r.containerIfName, containerIfName(port.id));
  const device = await s.host.getLink(r.containerIfName);
  assert.equal(device?.kind, 'macvlan');
  assert.equal(device?.mac, port.mac_address);
  assert.equal(device?.iflink, (await s.host.getLink('eth0'))!.ifindex, 'a child of link_iface');
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR, { ip_address: '10.70.0.11', mac_address: port.mac_address }]);
  assert.equal(await s.ports.hostEndExists(port), true, 'in use while the VM port holds its pair');

  await s.ports.unbind(port, 'ep-1');
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR], 'the operator\'s pair is left alone');
  assert.equal(await s.host.getLink(r.containerIfName), undefined);
  assert.equal(await s.ports.hostEndExists(port), false);
});

test('ipvlan: the pair carries the VM\'s MAC, which an ipvlan child sends with', async () => {
  const s = await vmSetup('ipvlan');
  const port = await s.containerPort(2);
  await s.ports.bind(port, { id: s.network.id }, 'ep-2');
  assert.equal((await s.host.getLink(containerIfName(port.id)))?.kind, 'ipvlan');
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR, { ip_address: '10.70.0.12', mac_address: VM_MAC }]);
});

test('30 containers bound in parallel leave exactly 30 pairs more; unbound in parallel, the VM port\'s pairs are as before', async () => {
  const s = await vmSetup();
  const ports: Port[] = [];
  for (let n = 0; n < 30; n++) ports.push(await s.containerPort(n));
  await Promise.all(ports.map((p, n) => s.ports.bind(p, { id: s.network.id }, `ep-${n}`)));
  const pairs = await pairsOn(s);
  assert.equal(pairs.length, 31);
  for (const p of ports) assert.ok(pairs.some((h) => h.ip_address === p.fixed_ips[0]!.ip_address && h.mac_address === p.mac_address), `pair of ${p.fixed_ips[0]!.ip_address}`);
  await Promise.all(ports.map((p, n) => s.ports.unbind(p, `ep-${n}`)));
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR]);
});

test('another writer\'s change that lands between Kuryr\'s read and write is kept: the revision guard makes Kuryr read again', async () => {
  const s = await vmSetup();
  const port = await s.containerPort(4);
  const theirs: AllowedAddressPair = { ip_address: '10.70.0.201', mac_address: 'fa:16:3e:88:88:88' };
  const update = s.neutron.updatePort;
  let raced = false;
  s.neutron.updatePort = async (id, body, opts) => {
    if (!raced && id === s.vmPortId) {
      raced = true; // the operator adds a pair just before Kuryr's write lands
      const now = await s.neutron.getPort(id);
      await update(id, { allowed_address_pairs: [...(now.allowed_address_pairs ?? []), theirs] });
    }
    return update(id, body, opts);
  };
  await s.ports.bind(port, { id: s.network.id }, 'ep-4');
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR, theirs, { ip_address: '10.70.0.14', mac_address: port.mac_address }]);
});

test('a pair update that fails for another reason than a lost race leaves no device behind', async () => {
  const s = await vmSetup();
  const port = await s.containerPort(3);
  const update = s.neutron.updatePort;
  s.neutron.updatePort = async () => {
    throw new KuryrError('KURYR_ERR_NEUTRON', 'Neutron PUT /v2.0/ports: 403 Forbidden');
  };
  await assert.rejects(s.ports.bind(port, { id: s.network.id }, 'ep-3'), /VM port .*add 10\.70\.0\.13\/fa:16:3e:00:01:03.*403/);
  s.neutron.updatePort = update;
  assert.equal(await s.host.getLink(containerIfName(port.id)), undefined);
  assert.deepEqual(await pairsOn(s), [OPERATORS_PAIR]);
});
