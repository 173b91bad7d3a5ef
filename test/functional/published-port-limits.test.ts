/**
 * `-p` with a host address (`-p 127.0.0.1:8080:80`) on a Kuryr network is refused: Kuryr forwards
 * only from its floating IP, which would publish the port where the user did not ask. The container
 * does not start and leaves no port behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, dockerFails, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { DEVICE_OWNER, idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const net = `kt-pblim-${suffix}`;
const container = `kt-pblim-c-${suffix}`;
after(async () => {
  await removeQuietly('container', container);
  await removeQuietly('network', net);
});

test('-p HOSTIP:HOST:CONTAINER is refused with a message saying to publish without a host address', async () => {
  await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), net);
  const err = await dockerFails('run', '-d', '--name', container, '--net', net, '-p', '127.0.0.1:8083:80', IMAGE, 'sleep', '600');
  assert.match(err, /published ports bound to a host address \(-p 127\.0\.0\.1:8083:80\) are not supported: Kuryr forwards from the floating IP \[port_forwarding\] floating_ip; publish without a host address/);
  const [network] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
  await eventually('no Kuryr port left behind', async () => ((await neutron.listPorts({ network_id: network!.id, device_owner: DEVICE_OWNER })).length === 0 ? true : undefined));
});
