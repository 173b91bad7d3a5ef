/**
 * Kuryr changes only what is its own: `kuryr gc` and the start-up reconcile (the port pools' rebuild)
 * decide by Kuryr's tags AND device owner, never by a name or a tag anyone can set. Decoys made the
 * way an operator or another service could make them survive a real (not dry-run) `kuryr gc`, while
 * Kuryr's leftovers next to them go.
 *
 * gc runs against the Neutron other tests share, so it runs with the default grace period (which
 * protects their objects in flight) and no `--networks`: this test makes its objects first and waits
 * for them to leave the grace period.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { IMAGE, config, docker, dockerNetworkId, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGc } from './kuryr-gc.js';
import { PrivateDaemon } from './private-daemon.js';
import { DEFAULT_GC_GRACE_SECONDS } from '../../src/gc/index.js';
import { EXPOSED_GROUP_TAG, exposedGroupName } from '../../src/libnetwork/exposed-ports.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, PORT_POOLED_TAG, SUBNETPOOL_OWNED_TAG, endpointPortName, idTags, networkName, poolHostTag, subnetPoolName } from '../../src/libnetwork/naming.js';
import type { Network, Port, SecurityGroup, SubnetPool } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const dockerId = () => randomBytes(32).toString('hex');
const exists = async (list: Promise<{ id: string }[]>) => (await list).length === 1;

describe("kuryr gc deletes only Kuryr's own objects", () => {
  /** Made before the tests run; gc judges them once they are older than the grace period. */
  let madeAt = 0;
  let orphanNet: Network;
  let vmPort: Port;
  let leftoverPort: Port;
  let upstreamGroup: SecurityGroup;
  let leftoverGroup: SecurityGroup;
  let operatorPool: SubnetPool;
  let leftoverPool: SubnetPool;

  before(async () => {
    // A network Kuryr left behind (its Docker network is gone), with one of Kuryr's ports bound here
    // and a VM's port that merely carries Kuryr's tag, bound here too.
    const lostNetwork = dockerId();
    orphanNet = await neutron.createNetwork({ name: networkName(lostNetwork), admin_state_up: true, tags: idTags(lostNetwork) });
    const subnet = await neutron.createSubnet({ name: `kt-gco-${suffix}`, network_id: orphanNet.id, ip_version: 4, cidr: await freeCidr(4), enable_dhcp: false, gateway_ip: null });
    const lostEndpoint = dockerId();
    leftoverPort = await neutron.createPort({
      name: endpointPortName(lostEndpoint),
      network_id: orphanNet.id,
      fixed_ips: [{ subnet_id: subnet.id }],
      device_owner: DEVICE_OWNER,
      device_id: lostEndpoint,
      'binding:host_id': config.hostname,
      tags: [PORT_OWNED_TAG, ...idTags(lostEndpoint)],
    } as Partial<Port>);
    vmPort = await neutron.createPort({
      name: `kt-gco-vm-${suffix}`,
      network_id: orphanNet.id,
      fixed_ips: [{ subnet_id: subnet.id }],
      device_owner: 'compute:nova',
      device_id: randomUUID(),
      'binding:host_id': config.hostname,
      tags: [PORT_OWNED_TAG],
    } as Partial<Port>);
    // Exposed-ports groups whose port is gone: upstream kuryr-libnetwork's (no tag) and Kuryr's.
    upstreamGroup = await neutron.createSecurityGroup({ name: exposedGroupName(randomUUID()), description: 'Docker exposed ports created by Kuryr.' });
    leftoverGroup = await neutron.createSecurityGroup({ name: exposedGroupName(randomUUID()), description: 'Docker exposed ports created by Kuryr.', tags: [EXPOSED_GROUP_TAG] });
    // Unused pools named like Kuryr's: an operator's (no tag) and one Kuryr left behind.
    const pool = (cidr: string, tags: string[]) =>
      neutron.createSubnetPool({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr), prefixes: [cidr], default_prefixlen: 24, tags });
    operatorPool = await pool(await freeCidr(4), []);
    leftoverPool = await pool(await freeCidr(4), [SUBNETPOOL_OWNED_TAG]);
    madeAt = Date.now();
  });

  after(async () => {
    for (const id of [vmPort?.id, leftoverPort?.id]) if (id) await neutron.deletePort(id).catch(() => undefined);
    if (orphanNet) await neutron.deleteNetwork(orphanNet.id).catch(() => undefined);
    for (const g of [upstreamGroup, leftoverGroup]) if (g) await neutron.deleteSecurityGroup(g.id).catch(() => undefined);
    for (const p of [operatorPool, leftoverPool]) if (p) await neutron.deleteSubnetPool(p.id).catch(() => undefined);
  });

  test('a port with the pool\'s tags that Kuryr\'s device owner does not mark is not pooled at start-up, nor handed to a container', async (t) => {
    let daemon = await PrivateDaemon.start(`kuryr-gco${suffix}`);
    const net = `kt-gco-pool-${suffix}`;
    const container = `gco-${suffix}`;
    let decoy: Port | undefined;
    t.after(async () => {
      await removeQuietly('container', container);
      if (decoy) await neutron.deletePort(decoy.id).catch(() => undefined); // before the network: it is no port Kuryr removes
      await removeQuietly('network', net);
      await daemon.stop();
    });
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', await freeCidr(4), '-o', 'kuryr.pool=true', net);
    const [neutronNet] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
    assert.ok(neutronNet, 'the Docker network has its Neutron network');
    const [subnet] = await neutron.listSubnets({ network_id: neutronNet.id });
    decoy = await neutron.createPort({
      name: 'kuryr-pooled-port',
      network_id: neutronNet.id,
      fixed_ips: [{ subnet_id: subnet!.id }],
      device_owner: 'compute:nova',
      tags: [PORT_OWNED_TAG, PORT_POOLED_TAG, poolHostTag(config.hostname)],
    } as Partial<Port>);

    daemon = await daemon.restart(); // the pools are rebuilt from Neutron
    await docker('run', '-d', '--name', container, '--net', net, IMAGE, 'sleep', '600');
    const endpoint = (await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").EndpointID}}`, container)).trim();
    const [served] = await neutron.listPorts({ device_id: endpoint });
    assert.ok(served, "the container's endpoint has its port");
    assert.notEqual(served.id, decoy.id, 'the container was not given the decoy');
    const after = await neutron.getPort(decoy.id);
    assert.deepEqual([after.device_owner, after.device_id], ['compute:nova', ''], 'the decoy is as its owner made it');
  });

  test("a real kuryr gc keeps a VM's port with Kuryr's tag, untagged exposed-ports groups and pools, and deletes Kuryr's leftovers beside them", async (t) => {
    const wait = madeAt + (DEFAULT_GC_GRACE_SECONDS + 2) * 1000 - Date.now();
    if (wait > 0) {
      t.diagnostic(`waiting ${Math.round(wait / 1000)} s for this test's objects to leave the grace period`);
      await new Promise((r) => setTimeout(r, wait));
    }
    const gc = await kuryrGc();
    const about = (id: string) => gc.lines.find((l) => l.includes(id)) ?? `(no line about ${id})`;
    for (const id of [orphanNet.id, vmPort.id, leftoverPort.id, upstreamGroup.id, leftoverGroup.id, operatorPool.id, leftoverPool.id]) t.diagnostic(`kuryr gc: ${about(id)}`);

    // The decoys survive, and gc says why.
    assert.ok(await exists(neutron.listPorts({ id: vmPort.id })), "the VM's port survives");
    assert.match(about(vmPort.id), /carries a Kuryr tag, but its device owner is "compute:nova".*not Kuryr's port; kept$/);
    assert.ok(await exists(neutron.listNetworks({ id: orphanNet.id })), "the network holding the VM's port survives");
    assert.match(about(orphanNet.id), /holds ports Kuryr did not make \(compute:nova\); kept$/);
    assert.ok(await exists(neutron.listSecurityGroups({ id: upstreamGroup.id })), 'the untagged exposed-ports group survives');
    assert.match(about(upstreamGroup.id), /is gone, but it has no kuryr\.sg\.exposed tag: Kuryr did not make it.*; kept$/);
    assert.ok(await exists(neutron.listSubnetPools({ id: operatorPool.id })), 'the untagged pool survives');
    assert.match(about(operatorPool.id), /but it has no kuryr\.subnetpool\.owned tag: Kuryr did not make it.*; kept$/);

    // Kuryr's leftovers go.
    assert.match(about(leftoverPort.id), /is in no network of this dockerd; deleted$/);
    assert.equal(await exists(neutron.listPorts({ id: leftoverPort.id })), false, "Kuryr's leftover port is deleted");
    assert.match(about(leftoverGroup.id), /is gone; deleted$/);
    assert.equal(await exists(neutron.listSecurityGroups({ id: leftoverGroup.id })), false, "Kuryr's leftover group is deleted");
    assert.match(about(leftoverPool.id), /no subnet is allocated from it or tagged with it; deleted$/);
    assert.equal(await exists(neutron.listSubnetPools({ id: leftoverPool.id })), false, "Kuryr's leftover pool is deleted");
  });
});
