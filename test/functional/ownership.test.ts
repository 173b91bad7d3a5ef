/**
 * Kuryr changes only what is its own (issue 8 §2): a Docker network's pool and live endpoints,
 * Kuryr's project's (or shared) Neutron objects, this host's endpoints; and request values reach
 * Neutron filters only once validated. Every refusal is a clear error in the protocol's shape and
 * leaves Neutron as it was.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { config, docker, dockerFails, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, plugin, removeQuietly, uniq } from './harness.js';
import { freeCidr, freePrefix } from './free-subnets.js';
import { PrivateDaemon, type PluginAnswer } from './private-daemon.js';
import { idTags, subnetPoolName } from '../../src/libnetwork/naming.js';
import type { Network, Port, Subnet, SubnetPool } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const containers: string[] = [];
const networks: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function net(name: string, ...args: string[]): Promise<string> {
  networks.push(name);
  await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, ...args, name);
  return dockerNetworkId(name);
}

async function run(name: string, network: string): Promise<{ ip: string; endpointId: string }> {
  containers.push(name);
  await docker('run', '-d', '--name', name, '--net', network, IMAGE, 'sleep', '600');
  const [ip, endpointId] = (await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}} {{(index .NetworkSettings.Networks "${network}").EndpointID}}`, name)).split(' ') as [string, string];
  return { ip, endpointId };
}

/** A Docker network's Neutron objects: network, subnet, the subnet's pool, and the ports on it. */
async function neutronOf(dockerId: string): Promise<{ network: Network; subnet: Subnet; pool: SubnetPool; ports: Port[] }> {
  const [network] = await neutron.listNetworks({ tags: idTags(dockerId).join(',') });
  assert.ok(network, `Docker network ${dockerId.slice(0, 12)} has its Neutron network`);
  const [subnet] = await neutron.listSubnets({ network_id: network.id });
  const pool = await neutron.getSubnetPool(subnet!.subnetpool_id!);
  return { network, subnet: subnet!, pool, ports: await neutron.listPorts({ network_id: network.id }) };
}

/** What a refused call must not have changed: the objects of the Docker networks it aimed at. */
async function snapshot(dockerIds: string[], cidr: string): Promise<string> {
  const parts: unknown[] = [];
  for (const id of dockerIds) {
    const o = await neutronOf(id);
    parts.push([o.network.id, o.network.tags.sort(), o.subnet.id, o.subnet.tags.sort(), o.pool.id, o.pool.tags.sort()]);
    parts.push(o.ports.map((p) => [p.id, p.device_id, p['binding:host_id'], p.tags.sort().join('|')]).sort());
  }
  parts.push((await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) })).map((p) => p.id).sort());
  return JSON.stringify(parts);
}

function refused(answer: PluginAnswer, status: number, pattern: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(String(answer.body['Err']), pattern);
}

async function pings(from: string, ip: string): Promise<true> {
  return eventually(`${from} reaches ${ip}`, async () => ((await docker('exec', from, 'ping', '-c', '1', '-W', '2', ip)) !== undefined ? true : undefined), 30_000, 1000);
}

describe('Kuryr changes only what is its own', () => {
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', ...networks);
    for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  });

  test('a pool Kuryr made for one Docker network cannot be named by another, nor used to release a live container\'s address', async () => {
    const cidr = await freeCidr(4);
    const idA = await net(`own-a-${suffix}`, '--subnet', cidr);
    const { ip } = await run(`own-ca-${suffix}`, `own-a-${suffix}`);
    const a = await neutronOf(idA);
    const port = a.ports.find((p) => p.fixed_ips.some((f) => f.ip_address === ip))!;
    assert.ok(port, 'the container has its Neutron port');
    const before = await snapshot([idA], cidr);

    // The trick: a second Docker network naming the first one's pool, then Docker's own calls with it.
    networks.push(`own-b-${suffix}`);
    const err = await dockerFails('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '--ipam-opt', `neutron.pool.name=${a.pool.name}`, `own-b-${suffix}`);
    assert.match(err, /made by Kuryr for another Docker network/);
    for (const options of [{ 'neutron.pool.name': a.pool.name }, { 'neutron.pool.uuid': a.pool.id }]) {
      refused(await plugin('IpamDriver.RequestPool', { AddressSpace: '', Pool: cidr, SubPool: '', V6: false, Options: options }), 409, /made by Kuryr for another Docker network/);
    }
    // A caller on the socket releasing the running container's address with its pool.
    refused(await plugin('IpamDriver.ReleaseAddress', { PoolID: a.pool.id, Address: ip }), 409, /still used by a live endpoint/);
    assert.equal(await snapshot([idA], cidr), before, 'nothing changed in Neutron');
    assert.equal((await neutron.getPort(port.id)).device_id, port.device_id, 'the container keeps its port');

    await docker('rm', '-f', `own-ca-${suffix}`);
    await docker('network', 'rm', `own-a-${suffix}`);
    assert.deepEqual(await neutron.listSubnetPools({ id: a.pool.id }), [], 'the pool Kuryr made went with its network');
  });

  test('DeleteNetwork sent straight to the plugin while two containers run is refused and changes nothing; Docker\'s own removal then cleans up', async () => {
    const cidr = await freeCidr(4);
    const id = await net(`own-d-${suffix}`, '--subnet', cidr);
    await run(`own-d1-${suffix}`, `own-d-${suffix}`);
    const { ip: ip2 } = await run(`own-d2-${suffix}`, `own-d-${suffix}`);
    const before = await snapshot([id], cidr);
    const objects = await neutronOf(id);

    refused(await plugin('NetworkDriver.DeleteNetwork', { NetworkID: id }), 409, /still has 2 live endpoint/);
    assert.equal(await snapshot([id], cidr), before, 'ports, subnet, pool and network are all still there');
    await pings(`own-d1-${suffix}`, ip2);

    await docker('rm', '-f', `own-d1-${suffix}`, `own-d2-${suffix}`);
    await docker('network', 'rm', `own-d-${suffix}`);
    assert.deepEqual(await neutron.listNetworks({ id: objects.network.id }), [], 'the network is gone');
    assert.deepEqual(await neutron.listSubnetPools({ id: objects.pool.id }), [], 'and its pool');
  });

  test('neutron.net.uuid naming another project\'s network is refused unless [neutron] allow_other_projects; its ports are not named in errors', async () => {
    const other = randomBytes(16).toString('hex');
    const theirs = await neutron.createNetwork({ name: `own-theirs-${suffix}`, admin_state_up: true, project_id: other } as never);
    cleanups.push(() => neutron.deleteNetwork(theirs.id));
    const cidr = await freeCidr(4);
    networks.push(`own-p-${suffix}`);
    const err = await dockerFails('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '-o', `neutron.net.uuid=${theirs.id}`, `own-p-${suffix}`);
    assert.match(err, /no Neutron network with id .*allow_other_projects/);
    assert.deepEqual((await neutron.getNetwork(theirs.id)).tags, [], 'the other project\'s network was not touched');
    assert.deepEqual(await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) }), [], 'Docker released the pool');

    const wide = await PrivateDaemon.start(`kuryr-own${suffix}`, { neutron: { allow_other_projects: 'True' } });
    cleanups.push(() => wide.stop());
    await docker('network', 'create', '-d', wide.driver, '--ipam-driver', wide.driver, '--subnet', cidr, '-o', `neutron.net.uuid=${theirs.id}`, `own-p-${suffix}`);
    assert.ok((await neutron.getNetwork(theirs.id)).tags.some((t) => t.startsWith('kuryr.net.uuid.lh:')), 'the operator\'s opt-in lets Kuryr adopt it');

    // A port of that project holds an address: a container asking for it learns nothing about the port.
    const [subnet] = await neutron.listSubnets({ network_id: theirs.id });
    const address = cidr.replace(/0\/24$/, '77');
    const vm = await neutron.createPort({ network_id: theirs.id, project_id: other, device_owner: 'compute:nova', device_id: `vm-${suffix}`, fixed_ips: [{ subnet_id: subnet!.id, ip_address: address }] } as never);
    cleanups.push(() => neutron.deletePort(vm.id)); // after a failure midway (404 once the test removed it)
    containers.push(`own-pc-${suffix}`);
    const denied = await dockerFails('run', '-d', '--name', `own-pc-${suffix}`, '--net', `own-p-${suffix}`, '--ip', address, IMAGE, 'true');
    assert.match(denied, /a Neutron port of another project/);
    for (const secret of [vm.id, `vm-${suffix}`, 'compute:nova']) assert.ok(!denied.includes(secret), `the error does not reveal ${secret}`);
    await removeQuietly('container', `own-pc-${suffix}`);
    await neutron.deletePort(vm.id);
    await docker('network', 'rm', `own-p-${suffix}`);
    assert.ok(!(await neutron.getNetwork(theirs.id)).tags.some((t) => t.startsWith('kuryr.')), 'released: untagged');
  });

  test('an operator\'s subnet that merely has Kuryr\'s subnet name is left in place when the Docker network adopting its network goes', async () => {
    const p = await freePrefix();
    const cidr = `${p}.0/24`;
    const op = await neutron.createNetwork({ name: `own-op-${suffix}`, admin_state_up: true });
    cleanups.push(() => neutron.deleteNetwork(op.id));
    const lookalike = await neutron.createSubnet({ name: `kuryr-subnet-${cidr}`, network_id: op.id, ip_version: 4, cidr, gateway_ip: `${p}.1`, enable_dhcp: false });
    await net(`own-op-${suffix}`, '--subnet', cidr, '--gateway', `${p}.1`, '-o', `neutron.net.name=own-op-${suffix}`);
    const { ip } = await run(`own-opc-${suffix}`, `own-op-${suffix}`);
    assert.ok(ip.startsWith(`${p}.`), 'the container got an address of the operator\'s subnet');
    await docker('rm', '-f', `own-opc-${suffix}`);
    await docker('network', 'rm', `own-op-${suffix}`);
    const [kept] = await neutron.listSubnets({ id: lookalike.id });
    assert.ok(kept, 'the operator\'s subnet is still there');
    assert.ok(!kept.tags.some((t) => /^[0-9a-f-]{36}$/.test(t)), 'without the pool tag Kuryr put on it');
    assert.ok(!(await neutron.getNetwork(op.id)).tags.some((t) => t.startsWith('kuryr.')), 'its network is untagged');
  });

  test('another host\'s DeleteEndpoint, Join, EndpointOperInfo and ReleaseAddress never act on this host\'s endpoint (global scope): its port, binding and host end stay', async () => {
    // Two daemons of one Docker network ID: "here" binds ports on this machine, "there" is another host.
    const [here, there] = await Promise.all([
      PrivateDaemon.start(`kuryr-ownh${suffix}`, { DEFAULT: { capability_scope: 'global' } }),
      PrivateDaemon.start(`kuryr-ownt${suffix}`, { DEFAULT: { capability_scope: 'global', hostname: `kt-elsewhere-${suffix}` } }),
    ]);
    cleanups.push(() => here.stop(), () => there.stop());
    const networkId = randomBytes(32).toString('hex');
    const endpointId = randomBytes(32).toString('hex');
    const cidr = await freeCidr(4);
    const ok = async (answer: Promise<PluginAnswer>, what: string) => {
      const { status, body } = await answer;
      assert.equal(status, 200, `${what}: ${JSON.stringify(body)}`);
      return body;
    };
    cleanups.push(async () => {
      for (const n of await neutron.listNetworks({ tags: idTags(networkId).join(',') })) {
        for (const p of await neutron.listPorts({ network_id: n.id })) await neutron.deletePort(p.id);
        await neutron.deleteNetwork(n.id);
      }
      for (const p of await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) })) await neutron.deleteSubnetPool(p.id);
    });
    const pool = await ok(here.call('IpamDriver.RequestPool', { AddressSpace: 'global', Pool: cidr, SubPool: '', V6: false, Options: {} }), 'RequestPool');
    const poolId = String(pool['PoolID']);
    const gateway = await ok(here.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), 'gateway');
    const create = { NetworkID: networkId, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'global', Pool: cidr, Gateway: gateway['Address'] }], IPv6Data: [] };
    await ok(here.call('NetworkDriver.CreateNetwork', create), 'CreateNetwork here');
    await ok(there.call('NetworkDriver.CreateNetwork', create), 'CreateNetwork there');
    const mac = '02:42:ac:' + randomBytes(3).toString('hex').match(/../g)!.join(':');
    const address = String((await ok(here.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } }), 'RequestAddress'))['Address']);
    await ok(here.call('NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: address, MacAddress: mac }, Options: {} }), 'CreateEndpoint');
    await ok(here.call('NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`, Options: {} }), 'Join');
    const port = await eventually('the endpoint has its port', async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0], 30_000, 500);
    const tap = `/sys/class/net/tap${port.id.slice(0, 11)}`;
    assert.ok(existsSync(tap), 'the host end is plugged here');

    // The other host hears of the same endpoint ID (a buggy or hostile caller on its socket).
    assert.deepEqual(await ok(there.call('NetworkDriver.EndpointOperInfo', { NetworkID: networkId, EndpointID: endpointId }), 'EndpointOperInfo there'), { Value: {} });
    refused(await there.call('NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: '/var/run/docker/netns/x', Options: {} }), 404, /no Neutron port on this network and host/);
    await ok(there.call('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId }), 'DeleteEndpoint there (nothing of its own to delete)');
    // Under global scope a release from another host (Swarm's manager freeing a task's address) is answered, and leaves the port to the host whose endpoint holds it.
    await ok(there.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: address.split('/')[0] }), 'ReleaseAddress there (left to this host)');
    refused(await here.call('NetworkDriver.DeleteNetwork', { NetworkID: networkId }), 409, /live endpoint/);
    const after = await neutron.getPort(port.id);
    assert.equal(after.device_id, endpointId, 'the endpoint keeps its port');
    assert.equal(after['binding:host_id'], config.hostname);
    assert.ok(existsSync(tap), 'and its host end');

    // This host's own teardown still works, then the other host's DeleteNetwork removes the network.
    await ok(here.call('NetworkDriver.Leave', { NetworkID: networkId, EndpointID: endpointId }), 'Leave');
    await ok(here.call('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId }), 'DeleteEndpoint here');
    await ok(here.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: address.split('/')[0] }), 'ReleaseAddress here');
    assert.deepEqual(await neutron.listPorts({ id: port.id }), [], 'the port went with its endpoint');
    await ok(here.call('NetworkDriver.DeleteNetwork', { NetworkID: networkId }), 'DeleteNetwork here');
    await ok(there.call('NetworkDriver.DeleteNetwork', { NetworkID: networkId }), 'DeleteNetwork there');
    await ok(here.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: String(gateway['Address']).split('/')[0] }), 'ReleaseAddress (gateway)');
    await ok(here.call('IpamDriver.ReleasePool', { PoolID: poolId }), 'ReleasePool');
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(networkId).join(',') }), [], 'nothing left in Neutron');
  });

  test('IDs and names from requests are validated before any Neutron filter: 400 {Err}, nothing changed', async () => {
    const cidr = await freeCidr(4);
    const id = await net(`own-v-${suffix}`, '--subnet', cidr);
    const { subnet, pool } = await neutronOf(id);
    const before = await snapshot([id], cidr);
    const uuid = randomUUID();
    const NET = randomBytes(32).toString('hex');
    const generic = (o: Record<string, string>) => ({ NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: cidr }], IPv6Data: [], Options: { 'com.docker.network.generic': o } });
    const rows: [string, unknown, RegExp][] = [
      // A comma in a "UUID" would add a tag filter (kuryrPool's pool lookup by subnet tag).
      ['IpamDriver.RequestPool', { AddressSpace: '', Pool: cidr, SubPool: '', V6: false, Options: { 'neutron.subnet.uuid': `${subnet.id},kuryr.subnetpool.owned` } }, /neutron\.subnet\.uuid=.* is not a UUID/],
      ['IpamDriver.RequestPool', { AddressSpace: '', Pool: cidr, SubPool: '', V6: false, Options: { 'neutron.pool.uuid': '-rf' } }, /not a UUID/],
      ['IpamDriver.RequestPool', { AddressSpace: '', Pool: cidr, SubPool: '', V6: false, Options: { 'neutron.pool.name': `${pool.name},x` } }, /control character or a comma/],
      ['IpamDriver.RequestPool', { AddressSpace: '', Pool: cidr, SubPool: '', V6: false, Options: { 'neutron.subnet.name': 'a\u0000b' } }, /control character/],
      ['NetworkDriver.CreateNetwork', generic({ 'neutron.net.uuid': `${uuid}&name=x` }), /not a UUID/],
      ['NetworkDriver.CreateNetwork', generic({ 'neutron.net.name': 'n'.repeat(300) }), /too long/],
      ['NetworkDriver.CreateNetwork', generic({ 'neutron.pool.uuid': uuid.toUpperCase().replace(/-/g, '') }), /not a UUID/],
      ['IpamDriver.RequestAddress', { PoolID: `${pool.id},x`, Address: '', Options: {} }, /PoolID/],
      ['IpamDriver.ReleaseAddress', { PoolID: `-${pool.id.slice(1)}`, Address: '' }, /PoolID/],
      ['IpamDriver.ReleasePool', { PoolID: pool.id.toUpperCase() }, /PoolID/],
    ];
    for (const [method, body, pattern] of rows) {
      const answer = await plugin(method, body);
      assert.equal(answer.status, 400, `${method} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
      assert.match(String(answer.body['Err']), pattern, method);
      if (method.startsWith('Ipam')) assert.equal(answer.body['Error'], answer.body['Err'], 'IPAM errors also carry Error');
    }
    // neutron.net.shared=true needs the operator's opt-in (the stack's kuryr.conf does not give it).
    refused(await plugin('NetworkDriver.CreateNetwork', generic({ 'neutron.net.shared': 'true' })), 403, /allow_shared_networks/);
    assert.equal(await snapshot([id], cidr), before, 'nothing changed in Neutron');
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(NET).join(',') }), [], 'no network for the refused CreateNetwork');
    assert.equal((await plugin('Plugin.Activate')).status, 200, 'the daemon keeps serving');
    await docker('network', 'rm', `own-v-${suffix}`);
  });
});
