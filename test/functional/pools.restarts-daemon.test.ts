/**
 * A port pool outlives a restart of the daemon under test (the stack's kuryr-server in CI):
 * scripts/test.sh runs this file after the others, and KURYR_TEST_SHARED_ONLY=1 leaves it out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_FILES, config, docker, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, restartKuryr, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { idTags, poolHostTag, PORT_POOLED_TAG } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const NET = `kt-poolr-${suffix}`;
const CONTAINER = `pb-${suffix}`;
const MIN = config.vifPool.min;
let netId = '';

async function freePooled(): Promise<Port[]> {
  return neutron.listPorts({ network_id: netId, tags: [PORT_POOLED_TAG, poolHostTag(config.hostname)].join(','), device_id: '' });
}

describe('restarts the daemon under test: port pools', () => {
  before(async () => {
    assert.ok(MIN > 0, `[vif_pool] ports_pool_min is ${MIN} in ${CONFIG_FILES.join(', ')}: this test needs a pool that keeps ports ready`);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), '-o', 'kuryr.pool=true', NET);
    netId = (await neutron.listNetworks({ tags: idTags(await dockerNetworkId(NET)).join(',') }))[0]!.id;
  });
  after(async () => {
    await removeQuietly('container', CONTAINER);
    await removeQuietly('network', NET);
  });

  test('after a restart the pool is rebuilt from Neutron tags and serves the next container', async () => {
    await eventually('a warm pool', async () => ((await freePooled()).length >= MIN ? true : undefined));
    await restartKuryr();
    // Read after the restart: a stopping daemon first finishes the scrubs of ports released just before.
    const free = await freePooled();
    await docker('run', '-d', '--name', CONTAINER, '--net', NET, IMAGE, 'sleep', '600');
    const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, CONTAINER);
    assert.ok(free.some((p) => p.fixed_ips[0]!.ip_address === ip), `its address ${ip} comes from a port pooled before the restart`);
  });
});
