/**
 * A container outlives a restart of the daemon under test (the stack's kuryr-server in CI):
 * scripts/test.sh runs this file after the others, and KURYR_TEST_SHARED_ONLY=1 leaves it out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { docker, DRIVER, eventually, IMAGE, neutron, removeQuietly, restartKuryr, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const NET = `kt-ctrr-${suffix}`;
const CONTAINER = `c4-${suffix}`;

describe('restarts the daemon under test: containers', () => {
  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), NET);
  });
  after(async () => {
    await removeQuietly('container', CONTAINER);
    await removeQuietly('network', NET);
  });

  test('the daemon restarted between docker run and docker rm still cleans up', async () => {
    await docker('run', '-d', '--name', CONTAINER, '--net', NET, IMAGE, 'sleep', '600');
    const endpointId = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, CONTAINER);
    // Kuryr records the endpoint on its port just after answering Docker, off the critical path.
    const port = await eventually('the container\'s port tagged with its endpoint ID', async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0]);
    const tap = `tap${port.id.slice(0, 11)}`;
    assert.ok(existsSync(`/sys/class/net/${tap}`), 'the host veth is there before the restart');
    await restartKuryr();
    await docker('rm', '-f', CONTAINER);
    assert.equal((await neutron.listPorts({ id: port.id })).length, 0, 'the port is deleted');
    assert.equal(existsSync(`/sys/class/net/${tap}`), false, 'the host veth is gone');
  });
});
