/**
 * Pooled ports are reused: a port released by one container is claimed by a later one. Whatever
 * happened to the free port in between (the agent reporting on the previous tap bumps its
 * revision), the next container must get it bound with its own MAC and reach its peers at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { config, docker, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, sh, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const NET = `kt-reuse-${suffix}`;
const PREFIX = await freePrefix();
const PEER = `kt-reuse-peer-${suffix}`;
let netId = '';
let peerIp = '';
const containers: string[] = [PEER];

async function endpointOf(container: string): Promise<{ endpointId: string; ip: string; mac: string }> {
  const f = `{{(index .NetworkSettings.Networks "${NET}").EndpointID}} {{(index .NetworkSettings.Networks "${NET}").IPAddress}} {{(index .NetworkSettings.Networks "${NET}").MacAddress}}`;
  const [endpointId, ip, mac] = (await docker('inspect', '-f', f, container)).split(' ');
  return { endpointId: endpointId!, ip: ip!, mac: mac! };
}

describe('reused pooled ports', () => {
  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', `${PREFIX}.0/24`, '-o', 'kuryr.pool=true', NET);
    netId = (await neutron.listNetworks({ tags: idTags(await dockerNetworkId(NET)).join(',') }))[0]!.id;
    await eventually('the pool to fill', async () => {
      const free = await neutron.listPorts({ network_id: netId, tags: 'kuryr.port.pooled', device_id: '' });
      return free.length >= config.vifPool.min ? true : undefined;
    });
    await docker('run', '-d', '--name', PEER, '--net', NET, IMAGE, 'sleep', '900');
    peerIp = (await endpointOf(PEER)).ip;
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', NET);
  });

  test('a free pooled port whose revision moved on after its release still serves the next container', async () => {
    // Neutron lists the pool's ports before the daemon has its bulk create's answer: until then
    // a container gets a port of its own, so take the first container whose port is pooled.
    let port: Port | undefined;
    for (let i = 0; i < 5 && !port; i++) {
      const first = `kt-reuse-a${i}-${suffix}`;
      containers.push(first);
      await docker('run', '-d', '--name', first, '--net', NET, IMAGE, 'sleep', '900');
      const ep = await endpointOf(first);
      const p = await eventually('the claim', async () => (await neutron.listPorts({ network_id: netId, device_id: ep.endpointId }))[0]);
      if (p.tags.includes('kuryr.port.pooled')) {
        port = p;
        await docker('rm', '-f', first);
      }
    }
    assert.ok(port, 'a container got a pooled port');
    // What the agent's late status report on the old tap does: a new revision, no new owner.
    await neutron.updatePort(port.id, { description: 'touched while free' } as never);

    // The pool is FIFO: start containers until one gets that port back.
    let taker: { name: string; endpointId: string; mac: string } | undefined;
    for (let i = 0; i < 40 && !taker; i++) {
      const name = `kt-reuse-b${i}-${suffix}`;
      containers.push(name);
      await docker('run', '-d', '--name', name, '--net', NET, IMAGE, 'sleep', '900');
      const e = await endpointOf(name);
      if (e.ip === port.fixed_ips[0]!.ip_address) taker = { name, endpointId: e.endpointId, mac: e.mac };
    }
    assert.ok(taker, `port ${port.id} came back from the pool`);
    const claimed = await eventually(
      'the reused port to be claimed for the new endpoint',
      async () => {
        const p = await neutron.getPort(port.id);
        return p.device_id === taker!.endpointId ? p : undefined;
      },
      15_000,
      500,
    );
    assert.equal(claimed['binding:host_id'], config.hostname, 'bound to this host');
    assert.equal(claimed.mac_address, taker.mac, "Neutron's MAC is the container's (else anti-spoofing drops its traffic)");
    await docker('exec', taker.name, 'ping', '-c', '1', '-W', '5', peerIp);
  });

  test('consecutive short-lived containers on reused pooled ports each get a reply to their first ping', async () => {
    // Enough probes to go round the pool more than once, so most of them get a reused port.
    const PROBES = Number(process.env['KURYR_TEST_REUSE_PROBES'] ?? 30);
    // The previous test drained the pool, and a brand-new port's address reaches the peer's
    // security-group filter only when the agent next refreshes it (seconds; what pools are for).
    // Probe once the pool is warm again and the agent has let every free port's address in.
    await eventually('a warm pool whose addresses the peer\'s filter admits', async () => {
      const free = await neutron.listPorts({ network_id: netId, tags: 'kuryr.port.pooled', device_id: '' });
      // The agent's security-group member sets (ipset NIPv4<group>): one address per line.
      const members = new Set((await sh('ipset', ['list'])).split('\n').map((line) => line.trim()));
      return free.length >= config.vifPool.min && free.every((p) => members.has(p.fixed_ips[0]!.ip_address)) ? true : undefined;
    }, 120_000, 1000);
    const failures: string[] = [];
    for (let i = 0; i < PROBES; i++) {
      const name = `kt-reuse-q${i}-${suffix}`;
      try {
        // busybox ping -c 1 sends one echo: it gets a reply only if the path is open at start. The
        // second ping, once the agent has had time to wire the port, checks it stays open.
        await docker('run', '--name', name, '--net', NET, IMAGE, 'sh', '-c', `ping -i 0.1 -w 8 -c 1 ${peerIp} && sleep 3 && ping -c 1 -W 3 ${peerIp}`);
      } catch {
        const out = await docker('logs', name).catch((e: Error) => e.message);
        const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, name).catch(() => '?');
        failures.push(`${name} (${ip}): ${out.replace(/\s+/g, ' ')}`);
      } finally {
        await removeQuietly('container', name);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${PROBES} probes got no reply`);
  });
});
