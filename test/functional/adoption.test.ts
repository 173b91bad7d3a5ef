/**
 * Adopting an operator's pre-created Neutron port where other paths compete for it: on a network
 * with a port pool (`--mac-address` must win over the pool), and with both addresses of a
 * dual-stack port (`--ip` and `--ip6`: Docker asks once per family, and the second request must
 * join the adoption the first one started).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER, IMAGE, containerInterface, docker, dockerNetworkId, eventually, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PORT_EXISTING_TAG, PORT_POOLED_TAG, idTags } from '../../src/libnetwork/naming.js';
import type { Network, Port, Subnet } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const containers: string[] = [];
const networks: string[] = [];
const operatorPorts: string[] = [];

after(async () => {
  await removeQuietly('container', ...containers);
  await removeQuietly('network', ...networks);
  for (const id of operatorPorts) await neutron.deletePort(id).catch(() => undefined);
});

async function kuryrNetwork(name: string, ...args: string[]): Promise<{ network: Network; subnets: Subnet[] }> {
  networks.push(name);
  await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, ...args, name);
  const [network] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(name)).join(',') });
  assert.ok(network, `Neutron network of ${name}`);
  return { network, subnets: await neutron.listSubnets({ network_id: network.id }) };
}

/** An unbound port an operator made for a container, on the given addresses. */
async function operatorPort(network: Network, fixedIps: { subnet_id: string; ip_address: string }[], mac?: string): Promise<Port> {
  const port = await neutron.createPort({ network_id: network.id, name: `kt-adopt-${suffix}-${operatorPorts.length}`, fixed_ips: fixedIps, ...(mac ? { mac_address: mac } : {}) } as Partial<Port>);
  operatorPorts.push(port.id);
  return port;
}

async function endpointId(container: string, net: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").EndpointID}}`, container);
}

/** After `docker rm`, the operator's port is as the operator made it: kept, unowned, untagged. */
async function returnedToOperator(port: Port): Promise<void> {
  const back = await eventually('the adopted port to be given back', async () => {
    const p = await neutron.getPort(port.id);
    return p.device_id === '' && !p.tags.includes(PORT_EXISTING_TAG) ? p : undefined;
  });
  assert.deepEqual(back.fixed_ips, port.fixed_ips, 'the port keeps its addresses');
  assert.equal(back.device_owner, '');
  assert.equal(back['binding:host_id'], '');
}

describe('adopting a pre-created port', () => {
  test('--mac-address on a network with a port pool adopts the operator\'s port holding that MAC; the pool is left alone', async () => {
    const net = `kt-adopt-pool-${suffix}`;
    const { network, subnets } = await kuryrNetwork(net, '--subnet', await freeCidr(4), '-o', 'kuryr.pool=true', '-o', 'kuryr.pool.min=2');
    const pooledIds = async () => (await neutron.listPorts({ network_id: network.id, tags: PORT_POOLED_TAG })).map((p) => p.id).sort();
    const pooled = await eventually('the pool to fill', async () => ((await pooledIds()).length >= 2 ? pooledIds() : undefined));
    const subnet = subnets[0]!;
    const address = subnet.cidr.replace(/0\/24$/, '77');
    const mac = 'fa:16:3e:5a:00:77';
    const pre = await operatorPort(network, [{ subnet_id: subnet.id, ip_address: address }], mac);

    const name = `kt-adopt-pc-${suffix}`;
    containers.push(name);
    await docker('run', '-d', '--name', name, '--net', net, '--mac-address', mac, IMAGE, 'sleep', '600');
    const iface = await containerInterface(name);
    assert.deepEqual(iface.ipv4, [address], 'the container has the operator port\'s address');
    assert.equal(iface.mac, mac);
    const claimed = await eventually('the adopted port to be claimed', async () => {
      const p = await neutron.getPort(pre.id);
      return p.device_id === (await endpointId(name, net)) ? p : undefined;
    });
    assert.ok(claimed.tags.includes(PORT_EXISTING_TAG), 'tagged as adopted, not copied');
    for (const id of pooled) assert.equal((await neutron.getPort(id)).device_id, '', `pooled port ${id} is still free: the pool served nothing`);

    await docker('rm', '-f', name);
    await returnedToOperator(pre);
  });

  test('--ip and --ip6 of one dual-stack port: both families join one adoption, and the container has both addresses', async () => {
    const net = `kt-adopt-ds-${suffix}`;
    const { network, subnets } = await kuryrNetwork(net, '--ipv6', '--subnet', await freeCidr(4), '--subnet', await freeCidr(6));
    const v4 = subnets.find((s) => s.ip_version === 4)!;
    const v6 = subnets.find((s) => s.ip_version === 6)!;
    const ip4 = v4.cidr.replace(/0\/24$/, '88');
    const ip6 = v6.cidr.replace(/::\/64$/, '::88');
    const pre = await operatorPort(network, [{ subnet_id: v4.id, ip_address: ip4 }, { subnet_id: v6.id, ip_address: ip6 }]);

    const name = `kt-adopt-dc-${suffix}`;
    containers.push(name);
    await docker('run', '-d', '--name', name, '--net', net, '--ip', ip4, '--ip6', ip6, IMAGE, 'sleep', '600');
    const iface = await containerInterface(name);
    assert.deepEqual(iface.ipv4, [ip4]);
    assert.deepEqual(iface.ipv6, [ip6]);
    const claimed = await eventually('the adopted port to be claimed', async () => {
      const p = await neutron.getPort(pre.id);
      return p.device_id === (await endpointId(name, net)) ? p : undefined;
    });
    assert.ok(claimed.tags.includes(PORT_EXISTING_TAG));
    const others = (await neutron.listPorts({ network_id: network.id })).filter((p) => p.id !== pre.id && p.device_owner !== 'network:dhcp');
    assert.deepEqual(others.map((p) => p.id), [], 'no other port was made for either family');

    await docker('rm', '-f', name);
    await returnedToOperator(pre);
  });
});
