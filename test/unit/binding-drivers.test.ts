/** VIF driver logic and the Binder against the in-memory FakeHostNetwork. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binder, parseVifDetails } from '../../src/binding/index.js';
import { FakeHostNetwork } from '../../src/binding/host/index.js';
import { NameLocks } from '../../src/binding/host/lock.js';
import type { BindingConfig } from '../../src/config/types.js';
import { KuryrError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const PORT_ID = '5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8';
const NET_ID = '9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9';
const EP = 'e1d2c3b4a5968778695a4b3c2d1e0f00e1d2c3b4a5968778695a4b3c2d1e0f00';
const TAP = 'tap5f1a2b3c-4d';
const TC = 't_c5f1a2b3c-4d';
const BRQ = 'brq9e8d7c6b-5a';
const QBR = 'qbr5f1a2b3c-4d';
const QVB = 'qvb5f1a2b3c-4d';
const QVO = 'qvo5f1a2b3c-4d';

const CONFIG: BindingConfig = {
  vethDstPrefix: 'eth',
  defaultDriver: 'veth',
  enabledDrivers: ['kuryr.lib.binding.drivers.veth', 'macvlan', 'ipvlan', 'vlan'],
  linkIface: 'eth0',
};

function port(over: Partial<Port> = {}): Port {
  return {
    id: PORT_ID,
    name: 'p',
    network_id: NET_ID,
    mac_address: 'FA:16:3E:AA:BB:CC',
    fixed_ips: [],
    device_id: '',
    device_owner: 'compute:kuryr',
    admin_state_up: true,
    status: 'DOWN',
    project_id: 'proj',
    security_groups: [],
    tags: [],
    'binding:host_id': 'node-1',
    'binding:vif_type': 'bridge',
    'binding:vif_details': { port_filter: true },
    'binding:vnic_type': 'normal',
    ...over,
  };
}

function setup(config: BindingConfig = CONFIG) {
  const host = new FakeHostNetwork();
  const binder = new Binder({ host, config, logger: silentLogger });
  return { host, binder };
}

/** The binding a pooled port's pending claim gives it (bind under the staging name). */
const PLANNED = { mac: 'fa:16:3e:aa:bb:cc', vifType: 'bridge' };

const bindingError = (re: RegExp) => (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_BINDING' && re.test(e.message);
const names = (host: FakeHostNetwork) => host.links().map((l) => l.name).sort();

test('bridge bind creates the veth with the port MAC and network MTU, ensures brq, then enslaves the tap and sets it up, in one process', async () => {
  const { host, binder } = setup();
  const r = await binder.bind(port(), { id: NET_ID, mtu: 1450 }, EP);
  assert.deepEqual(r, { hostIfName: TAP, containerIfName: TC });
  assert.deepEqual(host.ipLines, [
    `link add name ${TAP} mtu 1450 type veth peer name ${TC} mtu 1450 address fa:16:3e:aa:bb:cc`,
    `link add name ${BRQ} type bridge forward_delay 0 stp_state 0`,
    `link set ${BRQ} up`,
    `link set ${TAP} master ${BRQ}`,
    `link set ${TAP} up`,
  ]);
  assert.equal(host.transactions.length, 1);
  assert.equal(host.transactions[0]?.processes, 1);
  const tap = await host.getLink(TAP);
  assert.equal(tap?.master, BRQ);
  assert.equal(tap?.up, true);
  assert.equal((await host.getLink(TC))?.mac, 'fa:16:3e:aa:bb:cc');
  assert.equal((await host.getLink(BRQ))?.up, true);
});

test('a staged bind plugs the host end under a name the agent ignores; activate gives it its tap name, in the bridge and up; unbind removes either', async () => {
  const KST = 'kst5f1a2b3c-4d';
  const { host, binder } = setup();
  const r = await binder.bind(port(), { id: NET_ID }, EP, PLANNED);
  assert.deepEqual(r, { hostIfName: KST, containerIfName: TC });
  assert.equal((await host.getLink(KST))?.master, BRQ, 'reachable before the claim lands');
  assert.equal(await host.getLink(TAP), undefined, 'nothing named tap… for the agent yet');
  const before = host.ipLines.length;
  await binder.activate(port());
  assert.deepEqual(host.ipLines.slice(before), [`link set dev ${KST} name ${TAP}`], 'renamed while up: the container keeps its carrier');
  const tap = await host.getLink(TAP);
  assert.equal(tap?.master, BRQ);
  assert.equal(tap?.up, true);
  assert.equal(await host.getLink(KST), undefined);
  const after = host.ipLines.length;
  await binder.activate(port());
  assert.equal(host.ipLines.length, after, 'a second activate changes nothing');
  await binder.unbind(port(), EP);
  assert.deepEqual(names(host), [BRQ]);
  await binder.bind(port(), { id: NET_ID }, EP, PLANNED);
  await binder.unbind(port(), EP);
  assert.deepEqual(names(host), [BRQ], 'a staged device that never got its name is removed too');
});

test('on a kernel that renames only devices that are down, activate falls back to down, rename, up', async () => {
  const KST = 'kst5f1a2b3c-4d';
  const { host, binder } = setup();
  await binder.bind(port(), { id: NET_ID }, EP, PLANNED);
  // The kernel refuses the first (live) rename only.
  host.failOn(`link set dev ${KST} name ${TAP}`, 'RTNETLINK answers: Device or resource busy');
  const apply = host.apply.bind(host);
  host.apply = async (ops) => {
    try {
      return await apply(ops);
    } finally {
      host.clearFailures();
    }
  };
  const before = host.ipLines.length;
  await binder.activate(port());
  assert.deepEqual(host.ipLines.slice(before), [`link set dev ${KST} name ${TAP}`, `link set ${KST} down`, `link set dev ${KST} name ${TAP}`, `link set ${TAP} up`]);
  assert.equal((await host.getLink(TAP))?.up, true);
});

test('activate refuses to rename onto a device that already has the tap name, and changes nothing', async () => {
  const { host, binder } = setup();
  await binder.bind(port(), { id: NET_ID }, EP, PLANNED);
  await host.createVethPair({ host: TAP, container: 'other0', mtu: 1500, hostUp: false });
  await assert.rejects(binder.activate(port()), bindingError(/already exists/));
  assert.ok(await host.getLink('kst5f1a2b3c-4d'), 'the staged device is left as it was');
});

test('bridge bind reuses an existing brq and leaves it alone when it is already up', async () => {
  const { host, binder } = setup();
  host.addLink(BRQ, { kind: 'bridge', up: true, mtu: 9000 });
  await binder.bind(port(), { id: NET_ID }, EP);
  assert.ok(!host.ipLines.some((l) => l.includes(`name ${BRQ}`) || l === `link set ${BRQ} up`), host.ipLines.join('\n'));
  assert.equal((await host.getLink(TAP))?.master, BRQ);
  assert.equal((await host.getLink(TC))?.mtu, 1500, 'MTU defaults to 1500');
});

test('bind is idempotent: a re-bind of the same port changes nothing and starts no process', async () => {
  const { host, binder } = setup();
  await binder.bind(port(), { id: NET_ID }, EP);
  const before = host.links();
  await binder.bind(port(), { id: NET_ID }, EP);
  assert.deepEqual(host.links(), before);
  assert.equal(host.transactions[1]?.processes, 0);
});

for (const [vifType, re] of [
  ['binding_failed', /port 5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8 has binding:vif_type=binding_failed: Neutron could not bind it on host node-1; check the agent on that host/],
  ['unbound', /binding:vif_type=unbound: Neutron has not bound it/],
  ['vhostuser', /binding:vif_type=vhostuser, which Kuryr cannot plug \(supported: bridge, ovs, tap\)/],
] as const) {
  test(`vif_type ${vifType} fails clearly and leaves nothing on the host`, async () => {
    const { host, binder } = setup();
    await assert.rejects(binder.bind(port({ 'binding:vif_type': vifType }), { id: NET_ID }, EP), bindingError(re));
    assert.deepEqual(host.links(), []);
    assert.equal(host.transactions.length, 0);
  });
}

test('a port without binding:vif_type is treated as unbound', async () => {
  const { binder } = setup();
  const p = port();
  delete p['binding:vif_type'];
  await assert.rejects(binder.bind(p, { id: NET_ID }, EP), bindingError(/vif_type=unbound/));
});

test('a non-normal vnic_type is refused before touching the host', async () => {
  const { host, binder } = setup();
  await assert.rejects(binder.bind(port({ 'binding:vnic_type': 'direct' }), { id: NET_ID }, EP), bindingError(/vnic_type=direct/));
  assert.equal(host.transactions.length, 0);
});

test('a failure midway undoes what the bind created, in reverse, and keeps what existed', async () => {
  const { host, binder } = setup();
  host.failOn(`master ${BRQ}`, 'RTNETLINK answers: Operation not supported');
  await assert.rejects(binder.bind(port(), { id: NET_ID }, EP), bindingError(/^bind port .*: enslave tap5f1a2b3c-4d to brq9e8d7c6b-5a: RTNETLINK answers: Operation not supported$/));
  assert.deepEqual(names(host), [], 'neither the veth pair nor the brq it created remain');

  const other = setup();
  other.host.addLink(BRQ, { kind: 'bridge', up: false });
  other.host.failOn(`link set ${TAP} up`);
  await assert.rejects(other.binder.bind(port(), { id: NET_ID }, EP), bindingError(/set tap5f1a2b3c-4d up/));
  assert.deepEqual(names(other.host), [BRQ], 'the pre-existing bridge stays');
  assert.equal((await other.host.getLink(BRQ))?.up, false, 'and is put back down as it was');
});

test('a tap name held by an unrelated device is a conflict; nothing is changed', async () => {
  const { host, binder } = setup();
  host.addLink(TAP, { kind: 'other', mac: '02:00:00:00:00:99' });
  await assert.rejects(binder.bind(port(), { id: NET_ID }, EP), bindingError(/tap5f1a2b3c-4d already exists and is not paired with t_c5f1a2b3c-4d/));
  assert.deepEqual(names(host), [TAP]);
  assert.equal(host.transactions.length, 0);
});

test('a brq name held by a non-bridge device is refused before anything is created', async () => {
  const { host, binder } = setup();
  host.addLink(BRQ, { kind: 'other' });
  await assert.rejects(binder.bind(port(), { id: NET_ID }, EP), bindingError(/cannot use brq9e8d7c6b-5a as a bridge/));
  assert.deepEqual(names(host), [BRQ]);
});

test('unbind releases the tap from the bridge, deletes the pair, keeps brq, and is idempotent', async () => {
  const { host, binder } = setup();
  await binder.bind(port(), { id: NET_ID }, EP);
  await binder.unbind(port(), EP);
  assert.deepEqual(names(host), [BRQ]);
  assert.deepEqual(host.transactions[1]?.ipLines, [`link set ${TAP} nomaster`, `link del ${TAP}`]);
  await binder.unbind(port(), EP);
  assert.equal(host.transactions[2]?.processes, 0, 'second unbind finds nothing to do');
});

test('unbind of a port whose vif type became binding_failed still deletes the veth', async () => {
  const { host, binder } = setup();
  await binder.bind(port(), { id: NET_ID }, EP);
  await binder.unbind(port({ 'binding:vif_type': 'binding_failed' }), EP);
  assert.ok(!(await host.linkExists(TAP)));
});

const EXTERNAL_IDS = [
  `external_ids:iface-id=${PORT_ID}`,
  'external_ids:attached-mac=fa:16:3e:aa:bb:cc',
  'external_ids:iface-status=active',
  `external_ids:vm-uuid=${EP}`,
  'external_ids:owner=kuryr',
];

test('ovs bind adds the tap to br-int with the port external ids in one ovs-vsctl call', async () => {
  const { host, binder } = setup();
  await binder.bind(port({ 'binding:vif_type': 'ovs', 'binding:vif_details': { port_filter: true, ovs_hybrid_plug: false } }), { id: NET_ID }, EP);
  assert.deepEqual(host.ovsCommands, [['--timeout=10', '--', '--may-exist', 'add-port', 'br-int', TAP, '--', 'set', 'Interface', TAP, ...EXTERNAL_IDS]]);
  assert.equal(host.transactions[0]?.processes, 2, 'one ip -batch and one ovs-vsctl');
  assert.equal((await host.getLink(TAP))?.up, true);
  assert.equal((await host.getLink(TAP))?.master, undefined);
});

test('ovs bind honours vif_details bridge_name', async () => {
  const { host, binder } = setup();
  await binder.bind(port({ 'binding:vif_type': 'ovs', 'binding:vif_details': { bridge_name: 'br-alt' } }), { id: NET_ID }, EP);
  assert.equal(host.ovsCommands[0]?.[4], 'br-alt');
});

test('ovs hybrid bind builds qbr/qvb/qvo and plugs qvo into br-int with the external ids', async () => {
  const { host, binder } = setup();
  const p = port({ 'binding:vif_type': 'ovs', 'binding:vif_details': { port_filter: true, ovs_hybrid_plug: true } });
  await binder.bind(p, { id: NET_ID, mtu: 1450 }, EP);
  assert.deepEqual(host.ovsCommands, [['--timeout=10', '--', '--may-exist', 'add-port', 'br-int', QVO, '--', 'set', 'Interface', QVO, ...EXTERNAL_IDS]]);
  assert.equal((await host.getLink(QBR))?.kind, 'bridge');
  assert.equal((await host.getLink(QVB))?.master, QBR);
  assert.equal((await host.getLink(TAP))?.master, QBR);
  for (const n of [QBR, QVB, QVO, TAP]) assert.equal((await host.getLink(n))?.up, true, `${n} up`);
  assert.equal((await host.getLink(QVO))?.mtu, 1450);
  assert.deepEqual([...host.ovsPorts().keys()], [QVO]);

  await binder.unbind(p, EP);
  assert.deepEqual(names(host), []);
  assert.deepEqual(host.ovsCommands[1], ['--timeout=10', '--', '--if-exists', 'del-port', 'br-int', QVO]);
  await binder.unbind(p, EP);
});

test('an ovs-vsctl failure undoes the ip part of the bind', async () => {
  const { host, binder } = setup();
  host.failOn('add-port', 'ovs-vsctl: no bridge named br-int');
  await assert.rejects(binder.bind(port({ 'binding:vif_type': 'ovs', 'binding:vif_details': { ovs_hybrid_plug: true } }), { id: NET_ID }, EP),
    bindingError(/add qvo5f1a2b3c-4d to OVS bridge br-int: ovs-vsctl: no bridge named br-int/));
  assert.deepEqual(names(host), []);
});

test('tap bind leaves the veth unbridged with the host end up', async () => {
  const { host, binder } = setup();
  await binder.bind(port({ 'binding:vif_type': 'tap' }), { id: NET_ID }, EP);
  assert.deepEqual(names(host), [TAP, TC].sort());
  assert.equal((await host.getLink(TAP))?.up, true);
  assert.equal((await host.getLink(TAP))?.master, undefined);
});

test('vif_details are parsed into typed fields, never by substring', () => {
  assert.deepEqual(parseVifDetails({ port_filter: true, ovs_hybrid_plug: true, bridge_name: 'br-x' }), { ovsHybridPlug: true, portFilter: true, bridgeName: 'br-x' });
  assert.deepEqual(parseVifDetails(undefined), { ovsHybridPlug: false, portFilter: false });
  assert.deepEqual(parseVifDetails({ ovs_hybrid_plug: false, note: "'ovs_hybrid_plug': True" }), { ovsHybridPlug: false, portFilter: false });
  assert.throws(() => parseVifDetails({ bridge_name: 'br-int; rm -rf' }), bindingError(/bridge_name/));
});

test('veth mode refuses to run when veth is not in enabled_drivers', async () => {
  const { binder } = setup({ ...CONFIG, enabledDrivers: ['kuryr.lib.binding.drivers.macvlan'] });
  await assert.rejects(binder.bind(port(), { id: NET_ID }, EP), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG');
});

test('nested macvlan creates t_c on link_iface in bridge mode with the port MAC; unbind is idempotent', async () => {
  const { host, binder } = setup();
  host.addLink('eth0', { mtu: 1500 });
  assert.deepEqual(await binder.bindNested('macvlan', port(), { mtu: 1450 }), { containerIfName: TC });
  assert.deepEqual(host.ipLines, [`link add link eth0 name ${TC} mtu 1450 address fa:16:3e:aa:bb:cc type macvlan mode bridge`]);
  await binder.bindNested('macvlan', port(), { mtu: 1450 });
  assert.equal(host.transactions[1]?.processes, 0, 're-bind is a no-op');
  await binder.unbindNested('macvlan', port());
  await binder.unbindNested('macvlan', port());
  assert.deepEqual(names(host), ['eth0']);
});

test('nested ipvlan uses L2 mode and no MAC; vlan uses the segmentation id and the port MAC', async () => {
  const { host, binder } = setup();
  host.addLink('ens3');
  await binder.bindNested('ipvlan', port(), { linkIface: 'ens3' });
  await binder.unbindNested('ipvlan', port());
  await binder.bindNested('vlan', port(), { linkIface: 'ens3', vlanId: 101 });
  assert.deepEqual(host.ipLines, [
    `link add link ens3 name ${TC} type ipvlan mode l2`,
    `link del ${TC}`,
    `link add link ens3 name ${TC} address fa:16:3e:aa:bb:cc type vlan id 101`,
  ]);
});

test('nested binding errors: missing parent, missing vlan id, missing link_iface, mode not enabled', async () => {
  const { binder } = setup();
  await assert.rejects(binder.bindNested('macvlan', port(), { linkIface: 'nosuch0' }), bindingError(/nosuch0 does not exist/));
  await assert.rejects(binder.bindNested('vlan', port(), { linkIface: 'eth0' }), bindingError(/needs a segmentation id/));
  const noIface = setup({ ...CONFIG, linkIface: '' });
  await assert.rejects(noIface.binder.bindNested('macvlan', port()), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && /link_iface/.test(e.message));
  const vethOnly = setup({ ...CONFIG, enabledDrivers: ['veth'] });
  await assert.rejects(vethOnly.binder.bindNested('ipvlan', port()), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG');
});

test('host transactions on the same device names run one at a time; disjoint ones overlap', async () => {
  const locks = new NameLocks();
  const events: string[] = [];
  const job = (name: string, ms: number) => async () => {
    events.push(`start ${name}`);
    await new Promise((r) => setTimeout(r, ms));
    events.push(`end ${name}`);
  };
  await Promise.all([locks.run(['brq1', 'tapA'], job('A', 20)), locks.run(['brq1', 'tapB'], job('B', 1)), locks.run(['brq2'], job('C', 1))]);
  assert.deepEqual(events.slice(0, 2), ['start A', 'start C']);
  assert.ok(events.indexOf('start B') > events.indexOf('end A'));
});
