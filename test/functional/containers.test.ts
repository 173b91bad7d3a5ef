import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { config, containerInterface, docker, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr, freePrefix } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const NET = `kt-ctr-${suffix}`;
const PREFIX = await freePrefix();
const CIDR = `${PREFIX}.0/24`;
let neutronNetId = '';

async function portOf(container: string, network = NET): Promise<Port> {
  const endpointId = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
  // Kuryr records the endpoint on its port just after answering Docker, off the critical path.
  return eventually(`container ${container}'s Neutron port tagged with its endpoint ID`, async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0]);
}

async function kuryrPortsOnNetwork(): Promise<Port[]> {
  return neutron.listPorts({ network_id: neutronNetId, tags: 'compute:kuryr' });
}

describe('containers on a Kuryr network', () => {
  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', CIDR, '--gateway', `${PREFIX}.1`, NET);
    const id = await dockerNetworkId(NET);
    neutronNetId = (await neutron.listNetworks({ tags: idTags(id).join(',') }))[0]!.id;
  });
  after(async () => {
    await removeQuietly('container', `c1-${suffix}`, `c2-${suffix}`, `c3-${suffix}`);
    await removeQuietly('network', NET);
  });

  test('two containers get their Neutron ports\' address and MAC, the ports go ACTIVE, and they ping each other', async () => {
    await docker('run', '-d', '--name', `c1-${suffix}`, '--net', NET, IMAGE, 'sleep', '600');
    await docker('run', '-d', '--name', `c2-${suffix}`, '--net', NET, IMAGE, 'sleep', '600');
    const ifaces = [];
    for (const c of [`c1-${suffix}`, `c2-${suffix}`]) {
      const port = await portOf(c);
      const iface = await containerInterface(c);
      assert.deepEqual(iface.ipv4, [port.fixed_ips[0]!.ip_address], `${c} eth0 has its port's IP`);
      assert.equal(iface.mac, port.mac_address, `${c} eth0 has its port's MAC`);
      assert.equal(port['binding:host_id'], config.hostname, `${c}'s port is bound to this host, as the agent knows it`);
      assert.equal(port.device_owner, 'compute:kuryr');
      const active = await eventually(`port ${port.id} ACTIVE`, async () => ((await neutron.getPort(port.id)).status === 'ACTIVE' ? true : undefined), 30_000, 500);
      assert.ok(active);
      ifaces.push(iface);
    }
    await docker('exec', `c1-${suffix}`, 'ping', '-c', '2', '-W', '2', ifaces[1]!.ipv4[0]!);
    await docker('exec', `c2-${suffix}`, 'ping', '-c', '2', '-W', '2', ifaces[0]!.ipv4[0]!);
  });

  test('docker network disconnect and docker rm leave no Kuryr port behind', async () => {
    const before = (await kuryrPortsOnNetwork()).length;
    await docker('network', 'disconnect', NET, `c2-${suffix}`);
    assert.equal((await kuryrPortsOnNetwork()).length, before - 1, 'disconnect removed the port');
    await docker('rm', '-f', `c1-${suffix}`, `c2-${suffix}`);
    assert.equal((await kuryrPortsOnNetwork()).length, 0, 'rm removed the last port');
  });

  test('--ip gives the container exactly that address, on its Neutron port', async () => {
    const ip = `${PREFIX}.77`;
    await docker('run', '-d', '--name', `c3-${suffix}`, '--net', NET, '--ip', ip, IMAGE, 'sleep', '600');
    const port = await portOf(`c3-${suffix}`);
    assert.equal(port.fixed_ips[0]!.ip_address, ip);
    assert.deepEqual((await containerInterface(`c3-${suffix}`)).ipv4, [ip]);
    await docker('rm', '-f', `c3-${suffix}`);
    assert.equal((await neutron.listPorts({ id: port.id })).length, 0);
  });
});

describe('dual-stack containers', () => {
  const net = `kt-dualc-${suffix}`;
    after(async () => {
    await removeQuietly('container', `d1-${suffix}`);
    await removeQuietly('network', net);
  });

  test('a container on a dual-stack network attaches with one port holding both addresses', async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--ipv6', '--subnet', await freeCidr(4), '--subnet', await freeCidr(6), net);
    await docker('run', '-d', '--name', `d1-${suffix}`, '--net', net, IMAGE, 'sleep', '600');
    const port = await portOf(`d1-${suffix}`, net);
    const versions = port.fixed_ips.map((f) => (f.ip_address.includes(':') ? 6 : 4)).sort();
    assert.deepEqual(versions, [4, 6]);
    const iface = await containerInterface(`d1-${suffix}`);
    assert.deepEqual(iface.ipv4, port.fixed_ips.filter((f) => !f.ip_address.includes(':')).map((f) => f.ip_address));
    assert.deepEqual(iface.ipv6, port.fixed_ips.filter((f) => f.ip_address.includes(':')).map((f) => f.ip_address));
    const netId = port.network_id;
    await docker('rm', '-f', `d1-${suffix}`);
    assert.equal((await neutron.listPorts({ network_id: netId, tags: 'compute:kuryr' })).length, 0);
  });
});
