import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { executeGcPlan, formatGcOutcome, summarizeGc, type GcEffects } from '../../src/gc/execute.js';
import { planGc, subjectOf, type DockerEndpoint, type DockerView, type GcAction, type GcPolicy, type HostView, type NeutronView, type Stamped } from '../../src/gc/reconcile.js';
import { EXPOSED_GROUP_TAG } from '../../src/libnetwork/exposed-ports.js';
import { SUBNETPOOL_OWNED_TAG, SWARM_ALLOCATED_TAG, existingNetworkTag, idTags, vmPortTag } from '../../src/libnetwork/naming.js';
import type { Network, Port, SecurityGroup, Subnet, SubnetPool } from '../../src/openstack/neutron-types.js';

const HOST = 'node-1';
const NOW = Date.parse('2026-01-01T12:00:00Z');
const OLD = '2026-01-01T11:00:00Z';
const FRESH = '2026-01-01T11:59:30Z';
const policy: GcPolicy = { hostname: HOST, bindingHost: HOST, now: NOW, gracePeriodMs: 120_000, unattributedNetworks: false, subnetpoolNamePrefix: 'kuryrPool', defaultPoolNames: ['kuryr', 'kuryr6'], driverNames: ['kuryr'] };

let serial = 0;
const hex64 = (seed: string) => seed.padEnd(64, '0').slice(0, 64);
const uuid = () => `${(++serial).toString(16).padStart(8, 'a')}-1111-2222-3333-444455556666`;

function network(dockerId: string, extra: Partial<Stamped<Network>> = {}): Stamped<Network> {
  return { id: uuid(), name: `kuryr-net-${dockerId.slice(0, 8)}`, shared: false, admin_state_up: true, tags: idTags(dockerId), created_at: OLD, updated_at: OLD, ...extra };
}

/** A port as CreateEndpoint leaves it: owned by Kuryr, tagged with its endpoint, bound here. */
function endpointPort(net: Network, endpointId: string, extra: Partial<Stamped<Port>> = {}): Stamped<Port> {
  return {
    id: uuid(),
    name: `${endpointId}-port`,
    network_id: net.id,
    mac_address: 'fa:16:3e:00:00:01',
    fixed_ips: [{ subnet_id: 's', ip_address: '10.0.0.5' }],
    device_id: endpointId,
    device_owner: 'compute:kuryr',
    admin_state_up: true,
    status: 'ACTIVE',
    security_groups: ['default-sg'],
    tags: ['compute:kuryr', ...idTags(endpointId)],
    'binding:host_id': HOST,
    created_at: OLD,
    updated_at: OLD,
    ...extra,
  };
}

/** A port RequestAddress made that no CreateEndpoint claimed. */
function unclaimedPort(net: Network, ip: string, extra: Partial<Stamped<Port>> = {}): Stamped<Port> {
  return endpointPort(net, '', { name: 'kuryr-unbound-port', device_id: '', tags: ['compute:kuryr'], fixed_ips: [{ subnet_id: 's', ip_address: ip }], ...extra });
}

function subnet(net: Network, cidr: string, extra: Partial<Subnet> = {}): Subnet {
  return { id: uuid(), name: `kuryr-subnet-${cidr}`, network_id: net.id, ip_version: 4, cidr, gateway_ip: null, enable_dhcp: true, subnetpool_id: null, host_routes: [], tags: [], ...extra };
}

function pool(cidr: string, extra: Partial<Stamped<SubnetPool>> = {}): Stamped<SubnetPool> {
  return { id: uuid(), name: `kuryrPool-${cidr}`, prefixes: [cidr], default_prefixlen: 24, ip_version: 4, shared: false, tags: [SUBNETPOOL_OWNED_TAG], created_at: OLD, updated_at: OLD, ...extra };
}

/** An exposed-ports group as Kuryr makes it (tagged); `extra` makes upstream's or an operator's. */
const exposedGroup = (port: Port | string, extra: Partial<Stamped<SecurityGroup>> = {}): Stamped<SecurityGroup> =>
  ({ id: uuid(), name: `${typeof port === 'string' ? port : port.id}-exposed_ports`, tags: [EXPOSED_GROUP_TAG], created_at: OLD, updated_at: OLD, ...extra });
const tapOf = (port: Port) => `tap${port.id.slice(0, 11)}`;
const tcOf = (port: Port) => `t_c${port.id.slice(0, 11)}`;

function view(parts: Partial<NeutronView>): NeutronView {
  return { networks: [], ports: [], subnets: [], subnetPools: [], securityGroups: [], ...parts };
}
/** Networks are of the `kuryr` driver unless given as `id=driver`; endpoints given by ID hold no address. */
function dockerOf(parts: { networks?: string[]; endpoints?: (string | DockerEndpoint)[]; aux?: string[] }): DockerView {
  const networks = new Map((parts.networks ?? []).map((n) => [n.split('=')[0]!, n.split('=')[1] ?? 'kuryr']));
  const endpoints = (parts.endpoints ?? []).map((e) => (typeof e === 'string' ? { id: e, networkId: '', addresses: [] } : e));
  return { networks, endpoints, auxAddresses: new Set(parts.aux ?? []) };
}
function hostOf(names: string[], inSandbox: string[] = []): HostView {
  return { devices: [...names.map((name) => ({ name, inSandbox: false })), ...inSandbox.map((name) => ({ name, inSandbox: true }))] };
}

/** "verb kind id" per action: what the operator would read, without the prose. */
const summary = (plan: GcAction[]) => plan.map((a) => `${a.verb} ${a.kind} ${subjectOf(a).id}`);

const LIVE_NET = hex64('a1');
const GONE_NET = hex64('b2');
const LIVE_EP = hex64('c3');
const DEAD_EP = hex64('d4');

test('a port whose endpoint is in no Docker network is deleted, with its veth pair and its exposed-ports group', () => {
  const net = network(LIVE_NET);
  const dead = endpointPort(net, DEAD_EP);
  const group = exposedGroup(dead);
  const plan = planGc(view({ networks: [net], ports: [dead], securityGroups: [group] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tapOf(dead), tcOf(dead)]), policy);
  assert.deepEqual(summary(plan), [`delete device ${tapOf(dead)}`, `delete device ${tcOf(dead)}`, `delete port ${dead.id}`, `delete security-group ${group.id}`]);
  assert.equal(plan[2]!.why, 'endpoint d40000000000 is in no network of this dockerd');
});

test("a live endpoint's port, veth and exposed-ports group are left alone", () => {
  const net = network(LIVE_NET);
  const live = endpointPort(net, LIVE_EP);
  const plan = planGc(view({ networks: [net], ports: [live], securityGroups: [exposedGroup(live)] }), dockerOf({ networks: [LIVE_NET], endpoints: [LIVE_EP] }), hostOf([tapOf(live)]), policy);
  assert.deepEqual(plan, []);
});

test('a port changed within the grace period is kept, and the line says why', () => {
  const net = network(LIVE_NET);
  const joining = endpointPort(net, DEAD_EP, { updated_at: FRESH });
  const plan = planGc(view({ networks: [net], ports: [joining] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tapOf(joining)]), policy);
  assert.deepEqual(summary(plan), [`keep port ${joining.id}`]);
  assert.match(plan[0]!.why, /changed 30 s ago, within the 120 s grace period/);
  assert.deepEqual(summary(planGc(view({ networks: [net], ports: [joining] }), dockerOf({ networks: [LIVE_NET] }), hostOf([]), { ...policy, gracePeriodMs: 0 })), [`delete port ${joining.id}`]);
});

test('an IPAM address no endpoint claimed is deleted after the grace period, unless Docker holds it as an --aux-address', () => {
  const net = network(LIVE_NET);
  const stray = unclaimedPort(net, '10.0.0.7');
  const aux = unclaimedPort(net, '10.0.0.250');
  const plan = planGc(view({ networks: [net], ports: [stray, aux] }), dockerOf({ networks: [LIVE_NET], aux: ['10.0.0.250'] }), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`delete port ${stray.id}`]);
  assert.match(plan[0]!.why, /IPAM address 10\.0\.0\.7 was never claimed by an endpoint/);
});

test('an adopted port is released (unbound, without our tags and exposed-ports group), never deleted', () => {
  const net = network(LIVE_NET);
  const adopted = endpointPort(net, DEAD_EP, { name: 'operator-port', tags: ['team-a', 'kuryr.port.existing', ...idTags(DEAD_EP)] });
  const group = exposedGroup(adopted);
  adopted.security_groups = ['operator-sg', group.id];
  const plan = planGc(view({ networks: [net], ports: [adopted], securityGroups: [group] }), dockerOf({ networks: [LIVE_NET] }), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`release port ${adopted.id}`, `delete security-group ${group.id}`]);
  assert.deepEqual(plan[0]!.update, { port: { device_owner: '', device_id: '', 'binding:host_id': '', security_groups: ['operator-sg'] }, tags: ['team-a'] });
});

test("a port holding a live endpoint's address that does not record it (a crash mid-bookkeeping) is repaired, never deleted", () => {
  const net = network(LIVE_NET);
  const lost = unclaimedPort(net, '10.0.0.7');
  const pooled = unclaimedPort(net, '10.0.0.8', { name: 'kuryr-pooled-port', tags: ['compute:kuryr', 'kuryr.port.pooled', `kuryr.pool.host:${HOST}`], 'binding:host_id': '' });
  const settling = unclaimedPort(net, '10.0.0.9', { updated_at: FRESH });
  const endpoints = [
    { id: LIVE_EP, networkId: LIVE_NET, addresses: ['10.0.0.7'] },
    { id: DEAD_EP, networkId: LIVE_NET, addresses: ['10.0.0.8'] },
    { id: hex64('e5'), networkId: LIVE_NET, addresses: ['10.0.0.9'] },
  ];
  const plan = planGc(view({ networks: [net], ports: [lost, pooled, settling] }), dockerOf({ networks: [LIVE_NET], endpoints }), hostOf([tapOf(lost), tapOf(pooled)]), policy);
  assert.deepEqual(summary(plan), [`repair port ${lost.id}`, `repair port ${pooled.id}`], 'no device goes, the settling port is left to CreateEndpoint');
  assert.match(plan[0]!.why, /endpoint c30000000000 holds its address 10\.0\.0\.7, but the port does not record it/);
  assert.deepEqual(plan[0]!.update, { port: { device_id: LIVE_EP, device_owner: 'compute:kuryr', name: `${LIVE_EP}-port` }, tags: ['compute:kuryr', ...idTags(LIVE_EP)] });
  assert.equal(plan[1]!.update?.port?.['binding:host_id'], HOST, 'a pooled port is bound here, as its claim would have');
});

test("pooled ports are the pool's: never judged; a free pooled port's stale veth is deleted", () => {
  const net = network(LIVE_NET);
  const free = endpointPort(net, '', { device_id: '', name: 'kuryr-pooled-port', tags: ['compute:kuryr', 'kuryr.port.pooled', `kuryr.pool.host:${HOST}`], 'binding:host_id': '' });
  const claimed = endpointPort(net, DEAD_EP, { tags: ['compute:kuryr', 'kuryr.port.pooled', `kuryr.pool.host:${HOST}`, ...idTags(DEAD_EP)] });
  const plan = planGc(view({ networks: [net], ports: [free, claimed] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tapOf(free)]), policy);
  assert.deepEqual(summary(plan), [`delete device ${tapOf(free)}`]);
  assert.match(plan[0]!.why, /pooled port no endpoint uses/);
});

test("ports on a live network of another Kuryr driver sharing this dockerd are that daemon's to judge", () => {
  const net = network(LIVE_NET);
  const theirs = endpointPort(net, DEAD_EP);
  const plan = planGc(view({ networks: [net], ports: [theirs] }), dockerOf({ networks: [`${LIVE_NET}=kuryr-other`] }), hostOf([tapOf(theirs)]), policy);
  assert.deepEqual(plan, []);
  assert.deepEqual(summary(planGc(view({ networks: [net], ports: [theirs] }), dockerOf({ networks: [`${LIVE_NET}=kuryr-other`] }), hostOf([]), { ...policy, driverNames: [] })), [`delete port ${theirs.id}`]);
});

test("another host's ports and ports Kuryr did not make are not judged, nor are their devices", () => {
  const net = network(LIVE_NET);
  const elsewhere = endpointPort(net, DEAD_EP, { 'binding:host_id': 'node-2' });
  const vm = endpointPort(net, '', { device_owner: 'compute:nova', device_id: 'vm-1', tags: [] });
  const plan = planGc(view({ networks: [net], ports: [elsewhere, vm] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tapOf(vm)]), policy);
  assert.deepEqual(plan, []);
});

test('a port whose veth is inside a running sandbox is kept even if this dockerd does not know its endpoint', () => {
  const net = network(LIVE_NET);
  const other = endpointPort(net, DEAD_EP);
  const plan = planGc(view({ networks: [net], ports: [other] }), dockerOf({ networks: [LIVE_NET] }), hostOf([], [tapOf(other)]), policy);
  assert.deepEqual(summary(plan), [`keep port ${other.id}`]);
  assert.match(plan[0]!.why, /in use in a running sandbox/);
});

test('a network whose Docker network is gone is deleted, with its Kuryr ports, when a port ties it to this host', () => {
  const net = network(GONE_NET);
  const dead = endpointPort(net, DEAD_EP);
  const unclaimed = unclaimedPort(net, '10.0.0.9', { 'binding:host_id': '' });
  const dhcp = endpointPort(net, '', { device_owner: 'network:dhcp', tags: [], 'binding:host_id': '' });
  const plan = planGc(view({ networks: [net], ports: [dead, unclaimed, dhcp], subnets: [subnet(net, '10.0.0.0/24')] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tapOf(dead)]), policy);
  assert.deepEqual(summary(plan), [`delete device ${tapOf(dead)}`, `delete port ${dead.id}`, `delete port ${unclaimed.id}`, `delete network ${net.id}`]);
  assert.match(plan[3]!.why, /Docker network b20000000000 is not a network of this dockerd/);
});

test("a network with ports bound to another host, ports Kuryr did not make, a recent port or a port in a sandbox is kept, and so is one Swarm's manager allocated (a node that runs none of its tasks does not have it)", () => {
  const cases: [string, (net: Network) => Port[], HostView | ((ports: Port[]) => HostView), RegExp][] = [
    ['other host', (n) => [endpointPort(n, DEAD_EP), endpointPort(n, LIVE_EP, { 'binding:host_id': 'node-2' })], hostOf([]), /bound to node-2/],
    ['router', (n) => [endpointPort(n, DEAD_EP), endpointPort(n, '', { device_owner: 'network:router_interface', tags: [], 'binding:host_id': '' })], hostOf([]), /ports Kuryr did not make \(network:router_interface\)/],
    ['recent port', (n) => [endpointPort(n, DEAD_EP, { updated_at: FRESH })], hostOf([]), /a port on it was changed within the grace period/],
    ['sandbox', (n) => [endpointPort(n, DEAD_EP)], (ports) => hostOf([], [tapOf(ports[0]!)]), /in use in a running sandbox/],
    ['swarm', (n) => [endpointPort(n, DEAD_EP)], hostOf([]), /Swarm's manager allocated it/],
  ];
  for (const [what, makePorts, host, why] of cases) {
    const net = network(GONE_NET, what === 'swarm' ? { tags: [...network(GONE_NET).tags, SWARM_ALLOCATED_TAG] } : {});
    const ports = makePorts(net);
    const plan = planGc(view({ networks: [net], ports }), dockerOf({}), typeof host === 'function' ? host(ports) : host, policy);
    const netAction = plan.find((a) => a.kind === 'network');
    assert.equal(netAction?.verb, 'keep', what);
    assert.match(netAction!.why, why, what);
    assert.ok(!plan.some((a) => a.verb === 'delete' && a.kind === 'port' && a.why.includes('is gone')), `${what}: its ports do not go with it`);
  }
});

test("a network no port ties to this host is another host's as far as gc knows: kept unless --networks", () => {
  const net = network(GONE_NET);
  const plan = planGc(view({ networks: [net] }), dockerOf({}), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`keep network ${net.id}`]);
  assert.match(plan[0]!.why, /no port ties it to this host.*kuryr gc --networks/);
  assert.deepEqual(summary(planGc(view({ networks: [net] }), dockerOf({}), hostOf([]), { ...policy, unattributedNetworks: true })), [`delete network ${net.id}`]);
  const young = network(GONE_NET, { updated_at: FRESH });
  assert.equal(planGc(view({ networks: [young] }), dockerOf({}), hostOf([]), { ...policy, unattributedNetworks: true })[0]!.verb, 'keep');
});

test("an adopted network is released, never deleted: our subnet deleted, the operator's subnet loses our pool tag, our tags removed", () => {
  const net = network(GONE_NET, { name: 'operator-net' });
  net.tags = ['operator', ...idTags(GONE_NET), existingNetworkTag(GONE_NET)];
  const kuryrPool = pool('10.5.0.0/24');
  const ours = subnet(net, '10.5.0.0/24', { subnetpool_id: kuryrPool.id, tags: [kuryrPool.id] });
  const theirs = subnet(net, '10.6.0.0/24', { name: 'operator-subnet', tags: ['keep-me', kuryrPool.id] });
  const dead = endpointPort(net, DEAD_EP);
  const vm = endpointPort(net, '', { device_owner: 'compute:nova', device_id: 'vm', tags: [] });
  const plan = planGc(view({ networks: [net], ports: [dead, vm], subnets: [ours, theirs], subnetPools: [kuryrPool] }), dockerOf({}), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`delete port ${dead.id}`, `delete subnet ${ours.id}`, `release subnet ${theirs.id}`, `release network ${net.id}`, `delete subnetpool ${kuryrPool.id}`]);
  assert.deepEqual(plan[2]!.update, { tags: ['keep-me'] });
  assert.deepEqual(plan[3]!.update, { tags: ['operator'] });
});

test("a kuryrPool no subnet uses is deleted; one in use, recent, the operator's default or an adopted pool is not", () => {
  const net = network(LIVE_NET);
  const unused = pool('10.1.0.0/24');
  const used = pool('10.2.0.0/24');
  const tagged = pool('10.3.0.0/24');
  const recent = pool('10.4.0.0/24', { updated_at: FRESH });
  const operatorDefault = pool('10.0.0.0/8', { name: 'kuryr' });
  const adopted = pool('10.9.0.0/24', { tags: ['kuryr.subnetpool.existing'] });
  const subnets = [subnet(net, '10.2.0.0/24', { subnetpool_id: used.id }), subnet(net, '10.3.0.0/24', { name: 'operator', tags: [tagged.id] })];
  const plan = planGc(view({ networks: [net], subnets, subnetPools: [unused, used, tagged, recent, operatorDefault, adopted] }), dockerOf({ networks: [LIVE_NET] }), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`delete subnetpool ${unused.id}`, `keep subnetpool ${recent.id}`]);
});

test("the pool of a network gc deletes goes in the same run", () => {
  const net = network(GONE_NET);
  const p = pool('10.7.0.0/24');
  const plan = planGc(
    view({ networks: [net], ports: [unclaimedPort(net, '10.7.0.5')], subnets: [subnet(net, '10.7.0.0/24', { subnetpool_id: p.id, tags: [p.id] })], subnetPools: [p] }),
    dockerOf({}),
    hostOf([]),
    policy,
  );
  assert.deepEqual(summary(plan).slice(-2), [`delete network ${net.id}`, `delete subnetpool ${p.id}`]);
});

test('a veth whose port is gone is deleted at once; devices of unrelated names or of two ports sharing a prefix are not', () => {
  const net = network(LIVE_NET);
  const a = endpointPort(net, LIVE_EP, { id: 'abcdef01-23aa-0000-0000-000000000001' });
  const b = endpointPort(net, LIVE_EP, { id: 'abcdef01-23aa-0000-0000-000000000002' });
  const plan = planGc(view({ networks: [net], ports: [a, b] }), dockerOf({ networks: [LIVE_NET], endpoints: [LIVE_EP] }), hostOf(['tap0badcafe-99', 't_c0badcafe-99', 'tapabcdef01-23', 'tapX', 'eth0']), policy);
  assert.deepEqual(summary(plan), ['delete device tap0badcafe-99', 'delete device t_c0badcafe-99']);
  assert.match(plan[0]!.why, /no Neutron port 0badcafe-99\.\.\. exists any more/);
  const held = planGc(view({}), dockerOf({}), hostOf([], ['tap0badcafe-99']), policy);
  assert.deepEqual(summary(held), ['keep device tap0badcafe-99'], 'a running container keeps its interface until it stops');
});

test('a dry run changes nothing and says what it would do; a failure is reported and the rest still runs', async () => {
  const net = network(GONE_NET);
  const dead = endpointPort(net, DEAD_EP);
  const plan = planGc(view({ networks: [net], ports: [dead] }), dockerOf({}), hostOf([tapOf(dead)]), policy);
  const calls: string[] = [];
  const effects: GcEffects = {
    deleteDevice: async (name) => void calls.push(`device ${name}`),
    neutron: {
      deletePort: async (id) => void calls.push(`port ${id}`),
      deleteNetwork: async (id) => {
        calls.push(`network ${id}`);
        throw new Error('409 NetworkInUse');
      },
      updatePort: async () => assert.fail('nothing is released'),
      replaceTags: async () => assert.fail('nothing is released'),
      deleteSecurityGroup: async () => assert.fail('no group'),
      deleteSubnet: async () => assert.fail('no subnet'),
      deleteSubnetPool: async () => assert.fail('no pool'),
    },
  };
  const dry = await executeGcPlan(plan, effects, { dryRun: true });
  assert.deepEqual(calls, []);
  assert.deepEqual(dry.map((o) => o.result), ['would delete', 'would delete', 'would delete']);
  assert.equal(summarizeGc(dry), '3 would delete');

  const done = await executeGcPlan(plan, effects, { dryRun: false });
  assert.deepEqual(calls, [`device ${tapOf(dead)}`, `port ${dead.id}`, `network ${net.id}`]);
  assert.deepEqual(done.map((o) => o.result), ['deleted', 'deleted', 'failed']);
  assert.equal(formatGcOutcome(done[2]!), `network ${net.id} "${net.name}": Docker network b20000000000 is not a network of this dockerd; failed: 409 NetworkInUse`);
  assert.equal(formatGcOutcome(done[0]!), `device ${tapOf(dead)}: its port ${dead.id} is an orphan; deleted`);
});

test("a VM's port that merely carries Kuryr's tag is never deleted or released, nor its veth; it keeps its network", () => {
  const net = network(LIVE_NET);
  const vmId = '7d1f3c2a-0000-4000-8000-00000000cafe';
  const vm = endpointPort(net, '', { name: 'vm-port', device_owner: 'compute:nova', device_id: vmId, tags: ['compute:kuryr'] });
  const adoptedByVm = endpointPort(net, '', { name: 'vm-port-2', device_owner: 'compute:nova', device_id: vmId, tags: ['kuryr.port.existing', ...idTags(DEAD_EP)] });
  const pooledLooking = endpointPort(net, '', { name: 'kuryr-pooled-port', device_owner: '', device_id: '', 'binding:host_id': '', tags: ['compute:kuryr', 'kuryr.port.pooled', `kuryr.pool.host:${HOST}`] });
  const plan = planGc(
    view({ networks: [net], ports: [vm, adoptedByVm, pooledLooking], securityGroups: [exposedGroup(vm)] }),
    dockerOf({ networks: [LIVE_NET] }),
    hostOf([tapOf(vm), tcOf(vm), tapOf(pooledLooking)]),
    { ...policy, gracePeriodMs: 0 },
  );
  assert.deepEqual(summary(plan), [`keep port ${vm.id}`, `keep port ${adoptedByVm.id}`, `keep port ${pooledLooking.id}`]);
  assert.equal(plan[0]!.why, `it carries a Kuryr tag, but its device owner is "compute:nova" (device ${vmId}), not compute:kuryr: not Kuryr's port`);

  const gone = network(GONE_NET);
  const dead = endpointPort(gone, DEAD_EP);
  const vmOnGone = endpointPort(gone, '', { device_owner: 'compute:nova', device_id: vmId, tags: ['compute:kuryr'] });
  const onGone = planGc(view({ networks: [gone], ports: [dead, vmOnGone] }), dockerOf({}), hostOf([]), { ...policy, gracePeriodMs: 0, unattributedNetworks: true });
  const netAction = onGone.find((a) => a.kind === 'network');
  assert.equal(netAction?.verb, 'keep');
  assert.match(netAction!.why, /holds ports Kuryr did not make \(compute:nova\)/);
  assert.ok(!onGone.some((a) => a.kind === 'port' && subjectOf(a).id === vmOnGone.id && a.verb !== 'keep'), 'the VM port is only ever kept');
});

test("an exposed-ports group Kuryr did not tag is never deleted, even when its port is gone; Kuryr's own waits out the grace period", () => {
  const upstream = exposedGroup('5f0e0a53-1111-4222-8333-444455556666', { tags: [] });
  const ours = exposedGroup('6f0e0a53-1111-4222-8333-444455556666');
  const fresh = exposedGroup('7f0e0a53-1111-4222-8333-444455556666', { created_at: FRESH, updated_at: FRESH });
  const plan = planGc(view({ securityGroups: [upstream, ours, fresh] }), dockerOf({}), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`keep security-group ${upstream.id}`, `delete security-group ${ours.id}`, `keep security-group ${fresh.id}`]);
  assert.match(plan[0]!.why, /its port 5f0e0a53-\S+ is gone, but it has no kuryr\.sg\.exposed tag: Kuryr did not make it \(upstream kuryr-libnetwork's groups have none\)/);
  assert.match(plan[2]!.why, /changed 30 s ago, within the 120 s grace period/);
});

test("a kuryrPool Kuryr did not tag is kept, and so is a kuryr-subnet it did not allocate from its own pool", () => {
  const unused = pool('10.8.0.0/24', { tags: [] });
  const plan = planGc(view({ subnetPools: [unused] }), dockerOf({}), hostOf([]), { ...policy, gracePeriodMs: 0 });
  assert.deepEqual(summary(plan), [`keep subnetpool ${unused.id}`]);
  assert.match(plan[0]!.why, /no subnet is allocated from it or tagged with it, but it has no kuryr\.subnetpool\.owned tag: Kuryr did not make it/);

  // An adopted network released: a subnet named like Kuryr's but from the operator's pool only loses our pool tag.
  const net = network(GONE_NET, { name: 'operator-net' });
  net.tags = [...idTags(GONE_NET), existingNetworkTag(GONE_NET)];
  const kuryrPool = pool('10.5.0.0/24');
  const lookalike = subnet(net, '10.5.0.0/24', { subnetpool_id: 'operator-pool', tags: [kuryrPool.id] });
  const released = planGc(view({ networks: [net], ports: [unclaimedPort(net, '10.5.0.9')], subnets: [lookalike], subnetPools: [kuryrPool] }), dockerOf({}), hostOf([]), policy);
  assert.ok(released.some((a) => a.kind === 'subnet' && a.verb === 'release' && subjectOf(a).id === lookalike.id), summary(released).join('\n'));
  assert.ok(!released.some((a) => a.kind === 'subnet' && a.verb === 'delete'));
});

test('a port being claimed (changed within the grace period) keeps its network, and so does a fresh network', () => {
  const net = network(GONE_NET);
  const claiming = endpointPort(net, DEAD_EP, { updated_at: FRESH });
  const plan = planGc(view({ networks: [net], ports: [claiming] }), dockerOf({}), hostOf([]), policy);
  assert.deepEqual(summary(plan), [`keep port ${claiming.id}`, `keep network ${net.id}`]);
  const fresh = network(GONE_NET, { created_at: FRESH, updated_at: FRESH });
  const freshPlan = planGc(view({ networks: [fresh], ports: [endpointPort(fresh, DEAD_EP)] }), dockerOf({}), hostOf([]), policy);
  assert.equal(freshPlan.find((a) => a.kind === 'network')?.verb, 'keep');
});

describe('inside a Nova VM (nested): ports bound to no host, tagged with the VM port', () => {
  const VM_TAG = vmPortTag('vm-port-1');
  const nestedPolicy: GcPolicy = { ...policy, hostname: VM_TAG, bindingHost: '' };
  const nestedPort = (net: Network, endpointId: string, vmTag = VM_TAG) => endpointPort(net, endpointId, { 'binding:host_id': '', tags: ['compute:kuryr', vmTag, ...idTags(endpointId)] });

  test("this VM's port of a dead endpoint is deleted; another VM's is not judged", () => {
    const net = network(LIVE_NET);
    const dead = nestedPort(net, DEAD_EP);
    const othersVm = nestedPort(net, 'e'.repeat(64), vmPortTag('vm-port-2'));
    const plan = planGc(view({ networks: [net], ports: [dead, othersVm] }), dockerOf({ networks: [LIVE_NET] }), hostOf([tcOf(dead)]), nestedPolicy);
    assert.deepEqual(summary(plan), [`delete device ${tcOf(dead)}`, `delete port ${dead.id}`]);
  });

  test('a repaired port stays bound to no host', () => {
    const net = network(LIVE_NET);
    const port = { ...nestedPort(net, ''), name: 'kuryr-unbound-port', tags: ['compute:kuryr', VM_TAG] };
    const plan = planGc(view({ networks: [net], ports: [port] }), dockerOf({ networks: [LIVE_NET], endpoints: [{ id: LIVE_EP, networkId: LIVE_NET, addresses: ['10.0.0.5'] }] }), hostOf([]), nestedPolicy);
    assert.deepEqual(summary(plan), [`repair port ${port.id}`]);
    assert.equal(plan[0]!.update?.port?.['binding:host_id'], undefined, 'no binding host is written');
  });

  test("the port's address pairs leave the VM port before the port is deleted", async () => {
    const net = network(GONE_NET);
    const dead = nestedPort(net, DEAD_EP);
    const plan = planGc(view({ networks: [net], ports: [dead] }), dockerOf({}), hostOf([]), nestedPolicy);
    const calls: string[] = [];
    const effects: GcEffects = {
      deleteDevice: async (name) => void calls.push(`device ${name}`),
      releaseFromVm: async (port) => void calls.push(`pairs of ${port.id}`),
      neutron: {
        deletePort: async (id) => void calls.push(`port ${id}`),
        deleteNetwork: async (id) => void calls.push(`network ${id}`),
        updatePort: async () => assert.fail('nothing is released'),
        replaceTags: async () => assert.fail('nothing is released'),
        deleteSecurityGroup: async () => assert.fail('no group'),
        deleteSubnet: async () => assert.fail('no subnet'),
        deleteSubnetPool: async () => assert.fail('no pool'),
      },
    };
    await executeGcPlan(plan, effects, { dryRun: false });
    assert.deepEqual(calls, [`pairs of ${dead.id}`, `port ${dead.id}`, `network ${net.id}`]);
  });
});
