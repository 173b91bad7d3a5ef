import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { config, docker, dockerFails, dockerNetworkId, neutron, removeQuietly, uniq , DRIVER } from './harness.js';
import { freeCidr, freePrefix } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';
import { parseCidr } from '../../src/libnetwork/cidr.js';

/** A free IPv4 /24 and its first three octets, for addresses within it. */
async function freshCidr(): Promise<{ cidr: string; prefix: string }> {
  const prefix = await freePrefix();
  return { cidr: `${prefix}.0/24`, prefix };
}

describe('docker network create and rm on Neutron', () => {
  test('an IPv4 network with --gateway appears in Neutron tagged with the Docker ID, and is gone after rm', async () => {
    const name = `kt-net4-${uniq()}`;
    const { cidr, prefix } = await freshCidr();
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '--gateway', `${prefix}.1`, name);
      const id = await dockerNetworkId(name);
      const nets = await neutron.listNetworks({ tags: idTags(id).join(',') });
      assert.equal(nets.length, 1, 'exactly one Neutron network carries the Docker ID tags');
      const net = nets[0]!;
      assert.equal(net.name, `kuryr-net-${id.slice(0, 8)}`);
      const subnets = await neutron.listSubnets({ network_id: net.id });
      assert.equal(subnets.length, 1);
      const subnet = subnets[0]!;
      assert.equal(subnet.cidr, cidr);
      assert.equal(subnet.name, `kuryr-subnet-${cidr}`);
      assert.equal(subnet.gateway_ip, `${prefix}.1`);
      const pools = await neutron.listSubnetPools({ name: `${config.subnetpoolNamePrefix}-${cidr}` });
      assert.equal(pools.length, 1, 'one kuryrPool-<cidr> subnet pool');
      assert.equal(subnet.subnetpool_id, pools[0]!.id, 'the subnet is allocated from that pool');
      assert.ok(subnet.tags.includes(pools[0]!.id), 'the subnet is tagged with the pool ID');

      await docker('network', 'rm', name);
      assert.equal((await neutron.listNetworks({ tags: idTags(id).join(',') })).length, 0, 'network deleted');
      assert.equal((await neutron.listSubnets({ cidr, id: subnet.id })).length, 0, 'subnet deleted');
      assert.equal((await neutron.listSubnetPools({ id: pools[0]!.id })).length, 0, 'pool deleted');
    } finally {
      await removeQuietly('network', name);
    }
  });

  test('a network created without --gateway works: the first address becomes the gateway', async () => {
    const name = `kt-nogw-${uniq()}`;
    const { cidr, prefix } = await freshCidr();
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, name);
      const id = await dockerNetworkId(name);
      const [net] = await neutron.listNetworks({ tags: idTags(id).join(',') });
      assert.ok(net);
      const [subnet] = await neutron.listSubnets({ network_id: net.id });
      assert.equal(subnet?.gateway_ip, `${prefix}.1`);
      const routes = await docker('run', '--rm', '--net', name, 'kuryr/busybox:latest', 'ip', 'route');
      assert.match(routes, new RegExp(`default via ${prefix.replaceAll('.', '\\.')}\\.1 `), 'containers route through the Neutron gateway');
    } finally {
      await removeQuietly('network', name);
    }
  });

  test('a dual-stack network gets one Neutron network with an IPv4 and an IPv6 subnet, all removed after rm', async () => {
    const name = `kt-dual-${uniq()}`;
    const { cidr } = await freshCidr();
    const v6 = await freeCidr(6);
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--ipv6', '--subnet', cidr, '--subnet', v6, name);
      const id = await dockerNetworkId(name);
      const [net] = await neutron.listNetworks({ tags: idTags(id).join(',') });
      assert.ok(net);
      const subnets = await neutron.listSubnets({ network_id: net.id });
      // Neutron and Kuryr write the IPv6 CIDR canonically (fd7d:5cb:… for fd7d:05cb:…).
      assert.deepEqual(subnets.map((s) => s.name).sort(), [`kuryr-subnet-${cidr}`, `kuryr-subnet-${parseCidr(v6).text}`].sort());
      assert.deepEqual(subnets.map((s) => s.ip_version).sort(), [4, 6]);
      await docker('network', 'rm', name);
      assert.equal((await neutron.listNetworks({ id: net.id })).length, 0);
      assert.equal((await neutron.listSubnets({ network_id: net.id })).length, 0);
    } finally {
      await removeQuietly('network', name);
    }
  });

  test('an existing Neutron network adopted with -o neutron.net.name is tagged, then left in place untagged after rm', async () => {
    const suffix = uniq();
    const { cidr, prefix } = await freshCidr();
    const existing = await neutron.createNetwork({ name: `operator-net-${suffix}`, admin_state_up: true });
    const opSubnet = await neutron.createSubnet({ network_id: existing.id, ip_version: 4, cidr, name: `operator-subnet-${suffix}`, gateway_ip: `${prefix}.1` });
    const name = `kt-adopt-${suffix}`;
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '--gateway', `${prefix}.1`, '-o', `neutron.net.name=operator-net-${suffix}`, name);
      const id = await dockerNetworkId(name);
      const tagged = await neutron.getNetwork(existing.id);
      assert.ok(idTags(id).every((t) => tagged.tags.includes(t)), 'the operator network carries the Docker ID tags');
      assert.ok(tagged.tags.includes(`kuryr.net.existing:${id.slice(0, 12)}`));
      await docker('run', '-d', '--name', `${name}-c`, '--net', name, 'kuryr/busybox:latest', 'sleep', '600');
      const ports = await neutron.listPorts({ network_id: existing.id, tags: 'compute:kuryr' });
      assert.equal(ports.length, 1, 'the container has a Kuryr port on the operator network');
      assert.equal(ports[0]!.fixed_ips[0]!.subnet_id, opSubnet.id, 'its address comes from the operator subnet');
      await docker('rm', '-f', `${name}-c`);
      await docker('network', 'rm', name);
      const after = await neutron.getNetwork(existing.id);
      assert.ok(!after.tags.some((t) => t.startsWith('kuryr.')), 'Kuryr tags removed');
      assert.equal((await neutron.listSubnets({ id: opSubnet.id })).length, 1, 'the operator subnet is left in place');
      assert.equal((await neutron.listPorts({ network_id: existing.id, tags: 'compute:kuryr' })).length, 0, 'no Kuryr port left');
    } finally {
      await removeQuietly('container', `${name}-c`);
      await removeQuietly('network', name);
      await neutron.deleteNetwork(existing.id);
    }
  });

  test('a network without --subnet gets a free block of the default pool, which survives the network', async () => {
    const name = `kt-default-${uniq()}`;
    const [defaultPool] = await neutron.listSubnetPools({ name: config.neutron.defaultSubnetpoolV4 });
    assert.ok(defaultPool, 'the dev stack made the default pool');
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, name);
      const id = await dockerNetworkId(name);
      const [net] = await neutron.listNetworks({ tags: idTags(id).join(',') });
      assert.ok(net);
      const [subnet] = await neutron.listSubnets({ network_id: net.id });
      assert.equal(subnet?.subnetpool_id, defaultPool.id, 'the subnet is allocated from the default pool');
      assert.equal(subnet?.cidr.split('/')[1], String(defaultPool.default_prefixlen));
      const dockerSubnet = await docker('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', name);
      assert.equal(dockerSubnet, subnet?.cidr, 'Docker and Neutron agree on the subnet');
      await docker('run', '--rm', '--net', name, 'kuryr/busybox:latest', 'true');
      await docker('network', 'rm', name);
      assert.equal((await neutron.listSubnets({ id: subnet!.id })).length, 0, 'the block went back to the pool');
      assert.equal((await neutron.listSubnetPools({ id: defaultPool.id })).length, 1, 'the default pool is never deleted');
    } finally {
      await removeQuietly('network', name);
    }
  });

  test('a network on a missing Neutron network fails clearly and creates nothing', async () => {
    const name = `kt-missing-${uniq()}`;
    const { cidr } = await freshCidr();
    const before = (await neutron.listNetworks()).length;
    const err = await dockerFails('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '-o', `neutron.net.name=does-not-exist-${uniq()}`, name);
    assert.match(err, /no Neutron network with name/);
    assert.equal((await neutron.listNetworks()).length, before);
    assert.equal((await neutron.listSubnetPools({ name: `${config.subnetpoolNamePrefix}-${cidr}` })).length, 0, 'the pool was released by Docker\'s rollback');
  });
});
