/**
 * A real cloud runs Neutron's DHCP agent, as the dev stack does: its `network:dhcp` port takes an
 * address on every DHCP-enabled subnet, on the networks Kuryr makes (their subnets have DHCP on, as
 * upstream kuryr-libnetwork's: `[neutron] enable_dhcp` defaults to True) and on an operator's. That
 * port and its address are the agent's: Kuryr never hands the address to a container, never adopts
 * the port for `--ip`, and never deletes or changes it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER, IMAGE, docker, dockerFails, dockerNetworkId, eventually, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGc } from './kuryr-gc.js';
import { PrivateDaemon } from './private-daemon.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const containers: string[] = [];
const networks: string[] = [];
const neutronNetworks: string[] = [];
let dhcpOn: PrivateDaemon | undefined;

after(async () => {
  await removeQuietly('container', ...containers);
  await removeQuietly('network', ...networks);
  for (const id of neutronNetworks) await neutron.deleteNetwork(id).catch(() => undefined);
  await dhcpOn?.stop();
});

/** The DHCP agent's port on the subnet, once the agent has made it (it does so asynchronously). */
function dhcpPort(networkId: string, subnetId: string): Promise<Port> {
  return eventually(
    `the DHCP agent's port on subnet ${subnetId} (is neutron-dhcp-agent running? scripts/stack.sh status)`,
    async () => {
      const ports = await neutron.listPorts({ network_id: networkId, device_owner: 'network:dhcp' });
      return ports.find((p) => p.fixed_ips.some((f) => f.subnet_id === subnetId));
    },
    90_000,
    1000,
  );
}

const addressOn = (port: Port, subnetId: string) => port.fixed_ips.find((f) => f.subnet_id === subnetId)!.ip_address;

/** What an operator would compare to see the port untouched. */
const identity = (p: Port) => ({ id: p.id, owner: p.device_owner, device: p.device_id, host: p['binding:host_id'], tags: [...p.tags].sort(), ips: p.fixed_ips });

async function runContainers(net: string, count: number): Promise<string[]> {
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `kt-dhcp-${suffix}-${networks.length}${i}`;
    containers.push(name);
    await docker('run', '-d', '--name', name, '--net', net, IMAGE, 'sleep', '600');
    addresses.push(await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name));
  }
  return addresses;
}

/** `docker run --ip` with the DHCP port's address: refused, naming the port as not Kuryr's. */
async function refusesDhcpAddress(net: string, address: string, port: Port): Promise<void> {
  const name = `kt-dhcp-ip-${suffix}-${networks.length}`;
  containers.push(name);
  const err = await dockerFails('run', '-d', '--name', name, '--net', net, '--ip', address, IMAGE, 'sleep', '600');
  assert.match(err, new RegExp(`address ${address.replaceAll('.', '\\.')} belongs to Neutron port ${port.id} \\(device_owner "network:dhcp"`));
  assert.match(err, /only unbound ports without an owner can be used for a container/);
  await removeQuietly('container', name);
}

describe("the DHCP agent's port is never Kuryr's", () => {
  test('on a network Kuryr makes with [neutron] enable_dhcp = True (upstream\'s default): containers get other addresses; --ip of the DHCP port is refused', async () => {
    // The stack's daemon makes subnets without DHCP (see scripts/stack/configs.sh): this one has it on.
    dhcpOn = await PrivateDaemon.start(`kuryr-dhcp${suffix}`, { neutron: { enable_dhcp: 'True' } });
    const net = `kt-dhcp-k-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', dhcpOn.driver, '--ipam-driver', dhcpOn.driver, '--subnet', await freeCidr(4), net);
    const [n] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
    const [subnet] = await neutron.listSubnets({ network_id: n!.id });
    assert.equal(subnet!.enable_dhcp, true, 'Kuryr makes subnets with DHCP on ([neutron] enable_dhcp = True), as upstream');
    const dhcp = await dhcpPort(n!.id, subnet!.id);
    const dhcpAddress = addressOn(dhcp, subnet!.id);

    const addresses = await runContainers(net, 2);
    assert.ok(!addresses.includes(dhcpAddress), `containers got ${addresses.join(', ')}, never the DHCP port's ${dhcpAddress}`);
    await refusesDhcpAddress(net, dhcpAddress, dhcp);
    const [after] = await neutron.listPorts({ id: dhcp.id });
    assert.deepEqual(identity(after!), identity(dhcp), 'the DHCP port is unchanged');

    await removeQuietly('container', ...containers.splice(0));
    await docker('network', 'rm', net);
    assert.equal((await neutron.listNetworks({ id: n!.id })).length, 0, 'the network Kuryr made is deleted, its DHCP port with it');
  });

  test('on an existing network (neutron.net.uuid): the same, and network rm and kuryr gc leave the DHCP port alone', async () => {
    const cidr = await freeCidr(4);
    const existing = await neutron.createNetwork({ name: `kt-dhcp-op-${suffix}`, admin_state_up: true });
    neutronNetworks.push(existing.id);
    const subnet = await neutron.createSubnet({ name: `kt-dhcp-op-${suffix}`, network_id: existing.id, ip_version: 4, cidr, enable_dhcp: true });
    const dhcp = await dhcpPort(existing.id, subnet.id);
    const dhcpAddress = addressOn(dhcp, subnet.id);

    const net = `kt-dhcp-e-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', cidr, '-o', `neutron.net.uuid=${existing.id}`, net);
    const addresses = await runContainers(net, 2);
    assert.ok(!addresses.includes(dhcpAddress), `containers got ${addresses.join(', ')}, never the DHCP port's ${dhcpAddress}`);
    await refusesDhcpAddress(net, dhcpAddress, dhcp);

    // gc with no grace period judges every object at once (dry run: other tests' objects are in flight).
    const gc = await kuryrGc('--dry-run', '--grace-period', '0', '--networks');
    assert.ok(!gc.lines.some((l) => l.includes(dhcp.id) || l.includes(dhcpAddress)), `kuryr gc leaves the DHCP port alone:\n${gc.lines.join('\n')}`);

    await removeQuietly('container', ...containers.splice(0));
    await docker('network', 'rm', net);
    const [after] = await neutron.listPorts({ id: dhcp.id });
    assert.ok(after, 'the DHCP port of the existing network is still there after docker network rm');
    assert.deepEqual(identity(after), identity(dhcp), 'and unchanged');
  });
});
