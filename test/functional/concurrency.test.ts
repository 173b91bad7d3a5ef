import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, dockerNetworkId, DRIVER, eventually, IMAGE, kuryrObjects, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const names: string[] = [];
const nets: string[] = [];

async function startAll(network: string, count: number, tag: string): Promise<string[]> {
  const batch = Array.from({ length: count }, (_, i) => `kc-${tag}${i}-${suffix}`);
  names.push(...batch);
  await Promise.all(batch.map((n) => docker('run', '-d', '--name', n, '--net', network, IMAGE, 'sleep', '600')));
  return batch;
}

async function ipOf(container: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
}

async function allActive(network: string, count: number): Promise<void> {
  const [net] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(network)).join(',') });
  await eventually(`${count} ACTIVE ports on ${network}`, async () => {
    const ports = await neutron.listPorts({ network_id: net!.id, device_owner: 'compute:kuryr' });
    return ports.filter((p) => p.status === 'ACTIVE' && p.device_id).length >= count ? true : undefined;
  }, 120_000, 1000);
}

describe('concurrent starts', () => {
  after(async () => {
    await removeQuietly('container', ...names);
    await removeQuietly('network', ...nets);
  });

  test('30 containers started at once on one network get distinct addresses, go ACTIVE and reach each other', async () => {
    const net = `kc-one-${suffix}`;
    nets.push(net);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), net);
    const started = await startAll(net, 30, 'a');
    const ips = await Promise.all(started.map((c) => ipOf(c, net)));
    assert.equal(new Set(ips).size, 30, 'distinct addresses');
    await allActive(net, 30);
    // Each container reaches the next one (a ring covers all 30).
    await Promise.all(started.map((c, i) => docker('exec', c, 'ping', '-c', '1', '-W', '3', ips[(i + 1) % 30]!)));
  });

  test('10 containers each on three networks at once: distinct addresses per network, all reachable', async () => {
    const three = [0, 1, 2].map((i) => `kc-three${i}-${suffix}`);
    nets.push(...three);
    for (const n of three) {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), n);
    }
    const started = await Promise.all(three.map((n, i) => startAll(n, 10, `t${i}`)));
    for (const [i, n] of three.entries()) {
      const ips = await Promise.all(started[i]!.map((c) => ipOf(c, n)));
      assert.equal(new Set(ips).size, 10);
      await allActive(n, 10);
      await Promise.all(started[i]!.map((c, j) => docker('exec', c, 'ping', '-c', '1', '-W', '3', ips[(j + 1) % 10]!)));
    }
  });

  test('after docker rm -f of all of them, nothing Kuryr made is left', async () => {
    const before = await kuryrObjects();
    await docker('rm', '-f', ...names);
    names.length = 0;
    await docker('network', 'rm', ...nets);
    nets.length = 0;
    const afterRm = await kuryrObjects();
    assert.ok(afterRm.networks <= before.networks - 4, `the four networks are gone (${before.networks} -> ${afterRm.networks})`);
    assert.ok(afterRm.ports <= before.ports - 60, `the 60 ports are gone (${before.ports} -> ${afterRm.ports})`);
    assert.ok(afterRm.pools <= before.pools - 4, `the four networks' subnet pools are gone (${before.pools} -> ${afterRm.pools})`);
  });
});
