/**
 * Several Docker hosts, one Neutron (issue 3 §4). A second dockerd on this machine
 * (scripts/second-docker.sh) plays host 2; each host has its own Kuryr daemon, both serving the
 * driver name every host would use. Both bind ports to this machine's one Neutron agent.
 *
 * What Docker 20.10 allows: a network of a `Scope: global` remote driver needs a cluster store
 * (--cluster-store, gone in Docker 23) or swarm, and swarm refuses legacy (socket) network plugins,
 * so without either `docker network create` fails ("not a swarm manager"). Hosts therefore share a
 * Neutron network the operator made, each naming it with `-o neutron.net.name` (each host has its
 * own Docker network ID). The global-scope contract itself (one Docker network ID seen by every
 * host's Kuryr) is tested at the plugin level, with the calls Docker makes on each host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { config, docker, dockerFails, eventually, IMAGE, neutron, REPO, sh, uniq } from './harness.js';
import { freeCidr, freePrefix } from './free-subnets.js';
import { PrivateDaemon, type PluginAnswer } from './private-daemon.js';
import { idTags, NET_TAG_LOW, subnetPoolName, SWARM_ALLOCATED_TAG } from '../../src/libnetwork/naming.js';
import type { Network, Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const SECOND_DOCKER = `${REPO}scripts/second-docker.sh`;
const DRIVER = `kuryr-mh${suffix}`;

/** `docker` against one host: the stack's dockerd (host 1) or the second one (host 2). */
interface DockerHost {
  name: string;
  docker(...args: string[]): Promise<string>;
  kuryr: PrivateDaemon;
}

async function ipOn(host: DockerHost, container: string, network: string): Promise<string> {
  return host.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
}

async function pings(host: DockerHost, from: string, ip: string): Promise<true> {
  return eventually(`${from} on ${host.name} reaches ${ip}`, async () => ((await host.docker('exec', from, 'ping', '-c', '1', '-W', '2', ip)) !== undefined ? true : undefined), 30_000, 1000);
}

async function portOf(host: DockerHost, container: string, network: string): Promise<Port> {
  const endpointId = await host.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
  // Kuryr tags the port with the endpoint ID right after Docker's call returns: allow it a moment.
  return eventually(`${container} on ${host.name} has a Neutron port tagged with its endpoint`, async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0], 30_000, 500);
}

const dockerIdsOn = (net: Network) => net.tags.filter((t) => t.startsWith(NET_TAG_LOW)).length;

async function ok(answer: Promise<PluginAnswer>, what: string): Promise<Record<string, unknown>> {
  const { status, body } = await answer;
  assert.equal(status, 200, `${what}: ${JSON.stringify(body)}`);
  return body;
}

describe('two Docker hosts sharing one Neutron', () => {
  let docker2Host = '';
  let docker2PluginDir = '';
  let host1: DockerHost;
  let host2: DockerHost;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    const env = await sh('bash', [SECOND_DOCKER, 'start'], 300_000);
    docker2Host = /DOCKER2_HOST=(\S+)/.exec(env)?.[1] ?? '';
    docker2PluginDir = /DOCKER2_PLUGIN_DIR=(\S+)/.exec(env)?.[1] ?? '';
    assert.ok(docker2Host && docker2PluginDir, `second-docker.sh start printed its endpoints: ${env}`);
    const [k1, k2] = await Promise.all([
      PrivateDaemon.start(DRIVER, {}, { instance: 'host1' }),
      PrivateDaemon.start(DRIVER, {}, { socketDir: docker2PluginDir, instance: 'host2' }),
    ]);
    host1 = { name: 'host 1', docker: (...args) => docker(...args), kuryr: k1 };
    host2 = { name: 'host 2', docker: (...args) => docker('-H', docker2Host, ...args), kuryr: k2 };
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await Promise.all([host1?.kuryr.stop(), host2?.kuryr.stop()]);
    await sh('bash', [SECOND_DOCKER, 'stop'], 120_000);
  });

  test('the second host is a separate dockerd that sees only its own Kuryr', async () => {
    assert.notEqual(await host2.docker('info', '-f', '{{.DockerRootDir}}'), await host1.docker('info', '-f', '{{.DockerRootDir}}'));
    // Docker lists a legacy plugin once it has been used; the stack's `kuryr` must not resolve on host 2.
    const err = await dockerFails('-H', docker2Host, 'network', 'create', '-d', 'kuryr', `kt-mh-probe-${suffix}`);
    assert.match(err, /plugin "kuryr" not found|plugin not found/);
  });

  for (const operatorSubnet of [true, false]) {
    const variant = operatorSubnet ? 'with the operator\'s subnet' : 'whose subnet Kuryr creates';
    test(`an operator's Neutron network ${variant}, named on both hosts: containers on the two hosts ping each other; removing it on one host leaves the other working`, async () => {
      const prefix = await freePrefix();
      const cidr = `${prefix}.0/24`;
      const sharedName = `kt-mh-shared-${operatorSubnet ? 's' : 'n'}-${suffix}`;
      const shared = await neutron.createNetwork({ name: sharedName, admin_state_up: true });
      cleanups.push(async () => {
        // After a failure midway: whatever Kuryr left on the operator's network, then the network.
        for (const p of await neutron.listPorts({ network_id: shared.id, device_owner: 'compute:kuryr' })) await neutron.deletePort(p.id);
        await neutron.deleteNetwork(shared.id);
        for (const p of await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) })) await neutron.deleteSubnetPool(p.id);
      });
      if (operatorSubnet) {
        await neutron.createSubnet({ name: `${sharedName}-subnet`, network_id: shared.id, ip_version: 4, cidr, gateway_ip: `${prefix}.1`, enable_dhcp: false });
      }
      const dockerNet = `kt-mh-net-${operatorSubnet ? 's' : 'n'}-${suffix}`;
      const [c1, c2, c3] = ['c1', 'c2', 'c3'].map((c) => `kt-mh-${c}-${operatorSubnet ? 's' : 'n'}-${suffix}`) as [string, string, string];
      for (const host of [host1, host2]) {
        cleanups.push(() => host.docker('network', 'rm', dockerNet));
        cleanups.push(() => host.docker('rm', '-f', c1, c2, c3));
        await host.docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '-o', `neutron.net.name=${sharedName}`, dockerNet);
      }
      assert.notEqual(await host1.docker('network', 'inspect', '-f', '{{.Id}}', dockerNet), await host2.docker('network', 'inspect', '-f', '{{.Id}}', dockerNet), 'each host has its own Docker network ID');
      assert.equal(dockerIdsOn(await neutron.getNetwork(shared.id)), 2, 'the Neutron network carries both Docker networks\' tags');
      assert.equal((await neutron.listSubnets({ network_id: shared.id })).length, 1, 'both hosts use one subnet');

      await host1.docker('run', '-d', '--name', c1, '--net', dockerNet, IMAGE, 'sleep', '600');
      await host2.docker('run', '-d', '--name', c2, '--net', dockerNet, IMAGE, 'sleep', '600');
      const [ip1, ip2] = [await ipOn(host1, c1, dockerNet), await ipOn(host2, c2, dockerNet)];
      assert.notEqual(ip1, ip2, 'one IPAM (Neutron) for both hosts: no address is given twice');
      await pings(host1, c1, ip2);
      await pings(host2, c2, ip1);
      const port2 = await portOf(host2, c2, dockerNet);

      // Host 1 is done with the network while host 2's container still runs.
      await host1.docker('rm', '-f', c1);
      await host1.docker('network', 'rm', dockerNet);
      const after1 = await neutron.getNetwork(shared.id);
      assert.equal(dockerIdsOn(after1), 1, 'only host 1\'s Docker network tags were removed');
      assert.deepEqual((await neutron.listPorts({ id: port2.id })).map((p) => p.id), [port2.id], 'host 2\'s container keeps its port');
      assert.equal((await neutron.listSubnets({ network_id: shared.id })).length, 1, 'the subnet host 2 uses is still there');

      // Host 2 keeps working, including after its Kuryr restarts and finds everything again in Neutron.
      host2.kuryr = await host2.kuryr.restart();
      await host2.docker('run', '-d', '--name', c3, '--net', dockerNet, IMAGE, 'sleep', '600');
      await pings(host2, c3, ip2);

      await host2.docker('rm', '-f', c2, c3);
      await host2.docker('network', 'rm', dockerNet);
      const final = await neutron.getNetwork(shared.id);
      assert.equal(dockerIdsOn(final), 0, 'no Docker network tag is left on the operator\'s network');
      assert.ok(!final.tags.some((t) => t.startsWith('kuryr.')), 'no Kuryr tag is left on it');
      const subnets = await neutron.listSubnets({ network_id: shared.id });
      assert.equal(subnets.length, operatorSubnet ? 1 : 0, operatorSubnet ? 'the operator\'s subnet stays' : 'the subnet Kuryr made is gone');
      for (const s of subnets) assert.ok(!s.tags.some((t) => /^[0-9a-f-]{36}$/.test(t)), 'the subnet carries no pool tag any more');
      assert.deepEqual(await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) }), [], 'the Kuryr pool is gone');
      assert.deepEqual(await neutron.listPorts({ network_id: shared.id, device_owner: 'compute:kuryr' }), []);
    });
  }

  test('capability_scope = global: Docker 20.10 without swarm or a cluster store refuses the network, and Kuryr leaves nothing in Neutron', async () => {
    const globalDriver = `kuryr-mhg${suffix}`;
    const kuryr = await PrivateDaemon.start(globalDriver, { DEFAULT: { capability_scope: 'global' } }, { socketDir: docker2PluginDir });
    cleanups.push(() => kuryr.stop());
    const cidr = await freeCidr(4);
    const err = await dockerFails('-H', docker2Host, 'network', 'create', '-d', globalDriver, '--ipam-driver', globalDriver, '--subnet', cidr, `kt-mh-global-${suffix}`);
    assert.match(err, /not a swarm manager/);
    // Docker called CreateNetwork, failed to store the network, and rolled it back with DeleteNetwork/ReleasePool.
    assert.deepEqual(await neutron.listSubnets({ cidr }), [], 'no subnet is left');
    assert.deepEqual(await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) }), [], 'no pool is left');
  });

  test('global scope, plugin level (Swarm\'s call order): the manager\'s AllocateNetwork makes the Neutron network; two hosts\' CreateNetwork share it; a host letting go keeps it while the other has a container, and while the swarm has it; FreeNetwork and ReleasePool remove it', async () => {
    // Host 1 binds no port here, so it can go by another host name: a host's DeleteNetwork is refused
    // while that host itself still has live endpoints on the network.
    const [g1, g2] = await Promise.all([
      PrivateDaemon.start(`kuryr-mhg1${suffix}`, { DEFAULT: { capability_scope: 'global', hostname: `kt-mh-host1-${suffix}` } }),
      PrivateDaemon.start(`kuryr-mhg2${suffix}`, { DEFAULT: { capability_scope: 'global' } }),
    ]);
    cleanups.push(() => g1.stop(), () => g2.stop());
    const networkId = randomBytes(32).toString('hex');
    const endpointId = randomBytes(32).toString('hex');
    const cidr = await freeCidr(4);
    const tagged = () => neutron.listNetworks({ tags: idTags(networkId).join(',') });
    cleanups.push(async () => {
      for (const n of await tagged()) {
        for (const p of await neutron.listPorts({ network_id: n.id })) await neutron.deletePort(p.id);
        await neutron.deleteNetwork(n.id);
      }
      for (const p of await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) })) await neutron.deleteSubnetPool(p.id);
    });

    assert.deepEqual((await g1.call('NetworkDriver.GetCapabilities')).body, { Scope: 'global', ConnectivityScope: 'global' });
    // Swarm's manager (host 1): the pool and gateway, then AllocateNetwork, which makes the Neutron
    // network and subnet its VIPs and task addresses come from, before any host creates the network.
    const pool = await ok(g1.call('IpamDriver.RequestPool', { AddressSpace: 'global', Pool: cidr, SubPool: '', Options: {}, V6: false }), 'RequestPool');
    const poolId = String(pool['PoolID']);
    const gateway = await ok(g1.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), 'gateway');
    const gatewayIp = String(gateway['Address']).split('/')[0]!;
    const ipv4Data = [{ AddressSpace: 'global', Pool: cidr, Gateway: gateway['Address'] }];
    const allocated = await ok(g1.call('NetworkDriver.AllocateNetwork', { NetworkID: networkId, Options: { 'neutron.net.shared': 'false' }, IPv4Data: ipv4Data, IPv6Data: [] }), 'AllocateNetwork');
    assert.deepEqual(allocated, { Options: { 'neutron.net.shared': 'false' } }, 'AllocateNetwork answers Options, a string map handed to CreateNetwork on every host');
    const allocatedNets = await tagged();
    assert.equal(allocatedNets.length, 1, 'AllocateNetwork made the Neutron network');
    assert.ok(allocatedNets[0]!.tags.includes(SWARM_ALLOCATED_TAG), 'marked as allocated by the swarm manager');

    // Every host then calls CreateNetwork with the same Docker network ID; host 1 also retries its call.
    const hostPool = await ok(g2.call('IpamDriver.RequestPool', { AddressSpace: 'global', Pool: cidr, SubPool: '', Options: {}, V6: false }), 'RequestPool on host 2');
    assert.equal(hostPool['PoolID'], poolId, 'host 2 gets the pool the manager allocates from');
    for (const [g, host] of [[g1, 'host 1'], [g2, 'host 2'], [g1, 'host 1 (retry)']] as const) {
      await ok(g.call('NetworkDriver.CreateNetwork', {
        NetworkID: networkId,
        Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
        IPv4Data: ipv4Data,
        IPv6Data: [],
      }), `CreateNetwork on ${host}`);
    }
    const nets = await tagged();
    assert.equal(nets.length, 1, 'one Neutron network for the Docker network ID, however many hosts (and retries) created it');
    const netId = nets[0]!.id;
    assert.equal((await neutron.listSubnets({ network_id: netId })).length, 1, 'and one subnet');

    // A container on host 2.
    const mac = '02:42:ac:' + randomBytes(3).toString('hex').match(/../g)!.join(':');
    const address = await ok(g2.call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } }), 'RequestAddress');
    await ok(g2.call('NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: address['Address'], MacAddress: mac }, Options: {} }), 'CreateEndpoint');
    await ok(g2.call('NetworkDriver.Join', { NetworkID: networkId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`, Options: {} }), 'Join');
    const port = await eventually('host 2\'s endpoint has its port', async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0], 30_000, 500);

    // Host 1's last container is gone: Docker calls DeleteNetwork there (each host of a global
    // network does, when it stops using it).
    await ok(g1.call('NetworkDriver.DeleteNetwork', { NetworkID: networkId }), 'DeleteNetwork on host 1');
    assert.deepEqual((await tagged()).map((n) => n.id), [netId], 'the Neutron network stays: host 2 still has a container on it');
    assert.deepEqual((await neutron.listPorts({ id: port.id })).map((p) => p.id), [port.id], 'host 2\'s port is untouched');
    assert.equal((await neutron.listSubnets({ network_id: netId })).length, 1, 'so is its subnet');
    assert.ok(existsSync(`/sys/class/net/tap${port.id.slice(0, 11)}`), 'and its host veth');

    // Host 2's container goes, then host 2 lets go of the network: the swarm still has it.
    await ok(g2.call('NetworkDriver.Leave', { NetworkID: networkId, EndpointID: endpointId }), 'Leave');
    await ok(g2.call('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId }), 'DeleteEndpoint');
    await ok(g2.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: String(address['Address']).split('/')[0] }), 'ReleaseAddress');
    await ok(g2.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: gatewayIp }), 'ReleaseAddress (gateway) on host 2');
    await ok(g2.call('IpamDriver.ReleasePool', { PoolID: poolId }), 'ReleasePool on host 2');
    await ok(g2.call('NetworkDriver.DeleteNetwork', { NetworkID: networkId }), 'DeleteNetwork on host 2');
    assert.deepEqual((await tagged()).map((n) => n.id), [netId], 'no host uses the network, but the swarm manager has not freed it: it stays');
    assert.equal((await neutron.listSubnets({ network_id: netId })).length, 1, 'with its subnet');
    assert.equal((await neutron.listSubnetPools({ id: poolId })).length, 1, 'and its pool');

    // `docker network rm` on the manager: FreeNetwork, then the gateway and the pool.
    await ok(g1.call('NetworkDriver.FreeNetwork', { NetworkID: networkId }), 'FreeNetwork');
    assert.deepEqual(await tagged(), [], 'FreeNetwork removed the Neutron network');
    await ok(g1.call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: gatewayIp }), 'ReleaseAddress (gateway)');
    await ok(g1.call('IpamDriver.ReleasePool', { PoolID: poolId }), 'ReleasePool');
    assert.deepEqual(await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) }), [], 'and ReleasePool the pool');
    assert.equal(existsSync(`/sys/class/net/tap${port.id.slice(0, 11)}`), false, 'no host veth is left');
  });
});
