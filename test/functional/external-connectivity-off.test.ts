/**
 * A daemon of the test's own with `[DEFAULT] process_external_connectivity = False`: a container that
 * publishes ports (`-p`) is refused with an error naming the option (never started with its `-p`
 * silently ignored), and leaves no port behind; a container that only exposes ports starts, with no
 * exposed-ports security group.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, dockerFails, dockerNetworkId, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { exposedGroupName } from '../../src/libnetwork/exposed-ports.js';
import { DEVICE_OWNER, idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const net = `kt-xcoff-${suffix}`;
const containers: string[] = [];

describe('process_external_connectivity = False', () => {
  let daemon: PrivateDaemon;
  let networkId = '';

  before(async () => {
    daemon = await PrivateDaemon.start(`kuryr-xc${suffix.slice(0, 4)}`, { DEFAULT: { process_external_connectivity: 'False' } });
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', await freeCidr(4), net);
    const [network] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
    networkId = network!.id;
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', net);
    await daemon?.stop();
  });

  test('-p is refused with an error naming the option, and no Kuryr port is left behind', async () => {
    const c = `kt-xcoff-pub-${suffix}`;
    containers.push(c);
    const err = await dockerFails('run', '-d', '--name', c, '--net', net, '-p', '8082:80', IMAGE, 'sleep', '600');
    assert.match(err, /published ports \(-p 8082:80\/tcp\) on a Kuryr network need \[DEFAULT\] process_external_connectivity = True/);
    await eventually('no Kuryr port left behind', async () => {
      const ports = await neutron.listPorts({ network_id: networkId, device_owner: DEVICE_OWNER });
      return ports.length === 0 ? true : undefined;
    });
  });

  test('a container that only exposes ports starts, and gets no exposed-ports security group', async () => {
    const c = `kt-xcoff-exp-${suffix}`;
    containers.push(c);
    await docker('run', '-d', '--name', c, '--net', net, '--expose', '80', IMAGE, 'sleep', '600');
    const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c);
    const [port] = (await neutron.listPorts({ network_id: networkId, device_owner: DEVICE_OWNER })).filter((p) => p.fixed_ips.some((f) => f.ip_address === ip));
    assert.ok(port, `the container's Neutron port holds ${ip}`);
    assert.deepEqual(await neutron.listSecurityGroups({ name: exposedGroupName(port.id) }), [], 'no exposed-ports group');
    await docker('rm', '-f', c);
  });
});
