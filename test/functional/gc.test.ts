/** `kuryr gc --dry-run` and its grace period, on a port leaked by hand. Leaves the daemon under test alone (its kill -9 test: gc-kill.restarts-daemon.test.ts). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DRIVER, config, docker, dockerNetworkId, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGc } from './kuryr-gc.js';
import { DEFAULT_GC_GRACE_SECONDS } from '../../src/gc/index.js';
import { endpointPortName, idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();

async function neutronNetworkOf(dockerNetwork: string): Promise<{ dockerId: string; neutronId: string }> {
  const dockerId = await dockerNetworkId(dockerNetwork);
  const [net] = await neutron.listNetworks({ tags: idTags(dockerId).join(',') });
  assert.ok(net, `Docker network ${dockerNetwork} has its Neutron network`);
  return { dockerId, neutronId: net.id };
}

describe('kuryr gc', () => {
  const LEAK_NET = `kt-gcl-${suffix}`;
  const leakedPorts: string[] = [];

  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), LEAK_NET);
  });

  after(async () => {
    for (const id of leakedPorts) await neutron.deletePort(id).catch(() => undefined);
    await removeQuietly('network', LEAK_NET);
  });

  test('--dry-run lists a leaked Kuryr port without deleting it; a fresh one is kept for the grace period', async () => {
    const { neutronId } = await neutronNetworkOf(LEAK_NET);
    const endpointId = randomBytes(32).toString('hex');
    const leaked = await neutron.createPort({
      name: endpointPortName(endpointId),
      network_id: neutronId,
      admin_state_up: true,
      device_owner: 'compute:kuryr',
      device_id: endpointId,
      'binding:host_id': config.hostname,
      tags: ['compute:kuryr', ...idTags(endpointId)],
    });
    leakedPorts.push(leaked.id);

    const dry = await kuryrGc('--dry-run', '--grace-period', '0');
    assert.ok(
      dry.lines.includes(`port ${leaked.id} "${leaked.name}": endpoint ${endpointId.slice(0, 12)} is in no network of this dockerd; would delete`),
      `the dry run names the leaked port:\n${dry.lines.join('\n')}`,
    );
    assert.match(dry.lines.at(-1)!, new RegExp(`^kuryr gc \\(dry run\\) on ${config.hostname}: .*would delete`));
    assert.equal((await neutron.getPort(leaked.id)).id, leaked.id, 'the dry run deleted nothing');

    const careful = await kuryrGc('--dry-run');
    const line = careful.lines.find((l) => l.startsWith(`port ${leaked.id} `));
    assert.match(line ?? '', new RegExp(`but it was changed \\d+ s ago, within the ${DEFAULT_GC_GRACE_SECONDS} s grace period; kept$`));
    await neutron.deletePort(leaked.id);
  });
});
