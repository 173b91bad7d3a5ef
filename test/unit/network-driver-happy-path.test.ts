/**
 * The network driver's happy path, judged by what exists afterwards in (in-memory) Neutron and on
 * the (in-memory) host: CreateNetwork, CreateEndpoint, Join, Leave, DeleteEndpoint, DeleteNetwork,
 * in the order Docker sends them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostVethName, containerIfName, linuxBridgeName } from '../../src/binding/naming.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, endpointPortName, idTags, networkName, subnetName } from '../../src/libnetwork/naming.js';
import { HOST, networkCreate, networkRm, rm, run, wire } from './libnetwork-docker.js';

const linkNames = (w: ReturnType<typeof wire>) => w.host.links().map((l) => l.name).sort();

test('CreateNetwork makes one Neutron network tagged with the Docker network ID, with one subnet of the CIDR and its gateway', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.20.30.0/24');
  const nets = [...w.networks.values()];
  assert.equal(nets.length, 1);
  assert.equal(nets[0]!.name, networkName(network.id));
  assert.deepEqual(idTags(network.id).filter((t) => !nets[0]!.tags.includes(t)), [], 'tagged with the Docker network ID');
  const subnets = [...w.subnets.values()];
  assert.deepEqual(subnets.map((s) => [s.network_id, s.name, s.cidr, s.gateway_ip]), [[nets[0]!.id, subnetName('10.20.30.0/24'), '10.20.30.0/24', '10.20.30.1']]);
  assert.equal(subnets[0]!.subnetpool_id, network.poolId, 'allocated from the pool IPAM handed Docker');
  assert.equal(w.ports.size, 0, 'no port yet');
  assert.deepEqual(linkNames(w), [], 'nothing on the host yet');
});

test('CreateEndpoint and Join: the endpoint\'s port is bound to this host, owned by Kuryr, named and tagged for the endpoint, and its veth is plugged into the network\'s bridge', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.20.31.0/24');
  const endpoint = await run(w, network);
  await w.settle();
  const [net] = [...w.networks.values()];
  const ports = [...w.ports.values()];
  assert.equal(ports.length, 1, 'one port for one container');
  const port = ports[0]!;
  assert.equal(port.network_id, net!.id);
  assert.deepEqual(port.fixed_ips.map((f) => f.ip_address), [endpoint.address.split('/')[0]], 'the address IPAM gave Docker');
  assert.equal(port.mac_address, endpoint.mac, 'Docker\'s MAC');
  assert.equal(port['binding:host_id'], HOST);
  assert.equal(port.device_owner, DEVICE_OWNER);
  assert.equal(port.device_id, endpoint.id);
  assert.equal(port.name, endpointPortName(endpoint.id));
  assert.ok(port.tags.includes(PORT_OWNED_TAG), 'Kuryr\'s port tag');
  assert.deepEqual(idTags(endpoint.id).filter((t) => !port.tags.includes(t)), [], 'tagged with the endpoint ID');

  const tap = w.host.links().find((l) => l.name === hostVethName(port.id));
  assert.ok(tap, 'the host end of the veth exists');
  assert.equal(tap.master, linuxBridgeName(net!.id), 'in the Linux bridge agent\'s bridge for the network');
  assert.equal(tap.up, true);
  const peer = w.host.links().find((l) => l.name === containerIfName(port.id));
  assert.ok(peer, 'the container end Docker moves into the sandbox exists');
  assert.equal(peer.mac, endpoint.mac);
});

test('Join tells Docker the container end\'s name and the subnet\'s gateway', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.20.32.0/24');
  const endpoint = await run(w, network);
  const port = [...w.ports.values()][0]!;
  const joined = await w.net.join({ NetworkID: network.id, EndpointID: endpoint.id, SandboxKey: '/var/run/docker/netns/x', Options: {} });
  assert.deepEqual(joined.InterfaceName, { SrcName: containerIfName(port.id), DstPrefix: 'eth' });
  assert.equal(joined.Gateway, '10.20.32.1');
});

test('Leave, DeleteEndpoint, ReleaseAddress: the port is deleted and its veth is gone; the network stays', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.20.33.0/24');
  const kept = await run(w, network);
  const gone = await run(w, network);
  await w.settle();
  const portOf = (id: string) => [...w.ports.values()].find((p) => p.device_id === id)!;
  const keptPort = portOf(kept.id);
  const gonePort = portOf(gone.id);
  await rm(w, network, gone);
  await w.settle();
  assert.deepEqual([...w.ports.keys()], [keptPort.id], 'only the other container\'s port is left');
  assert.deepEqual(linkNames(w).filter((n) => n.includes(gonePort.id.slice(0, 11))), [], 'its veth is gone');
  assert.ok(w.host.links().some((l) => l.name === hostVethName(keptPort.id)), 'the other container\'s veth stays');
  assert.equal(w.networks.size, 1);
  assert.equal(w.subnets.size, 1);
});

test('DeleteNetwork after the last container: no network, subnet, port or subnet pool is left in Neutron, and no veth on the host', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.20.34.0/24');
  const endpoint = await run(w, network);
  await w.settle();
  await rm(w, network, endpoint);
  await networkRm(w, network);
  await w.settle();
  assert.equal(w.networks.size, 0);
  assert.equal(w.subnets.size, 0);
  assert.equal(w.ports.size, 0);
  assert.equal(w.subnetPools.size, 0);
  assert.deepEqual(w.host.links().filter((l) => l.kind === 'veth').map((l) => l.name), []);
});
