/**
 * `kuryr gc` after the daemon under test is killed (-9) in the middle of a burst of container starts,
 * then restarted: what the dead daemon left in Neutron and on the host exists before gc runs, and
 * gc removes it while the Docker network is still there (so `docker network rm`, which deletes
 * the network's ports itself, cannot be what cleaned up).
 *
 * Restarts the daemon under test (the stack's kuryr-server in CI): scripts/test.sh runs this file
 * after the others, and KURYR_TEST_SHARED_ONLY=1 leaves it out.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { DRIVER, IMAGE, config, docker, dockerNetworkId, eventually, neutron, removeQuietly, restartKuryr, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGc } from './kuryr-gc.js';
import { DEFAULT_GC_GRACE_SECONDS } from '../../src/gc/index.js';
import type { Stamped } from '../../src/gc/reconcile.js';
import { idTags, subnetPoolName } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

/** The daemon under test: the stack's writes kuryr-server.pid, a private one (scripts/dev-daemon.sh) <driver>.pid. */
const PID_FILE = DRIVER === 'kuryr' ? '/run/kuryr/kuryr-server.pid' : `/run/kuryr/${DRIVER}.pid`;
const BURST = 20;
/** Bursts killed at most, until one leaks something. */
const MAX_ROUNDS = 3;
const suffix = uniq();
const NET = `kt-gcc-${suffix}`;
const CIDR = await freeCidr(4);
const containers = Array.from({ length: BURST }, (_, i) => `gc-${suffix}-${i}`);

const daemonAlive = () => {
  if (!existsSync(PID_FILE)) return false;
  try {
    process.kill(Number(readFileSync(PID_FILE, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
};

/** Host veth devices named after these ports (tap/t_c + 11 characters of the port ID). */
async function devicesOf(portIds: Iterable<string>): Promise<string[]> {
  const prefixes = new Set([...portIds].map((id) => id.slice(0, 11)));
  const links = JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => /^(tap|t_c)/.test(n) && prefixes.has(n.slice(3)));
}

/** Ports on the network other than Neutron's own (`network:dhcp` and the like): Kuryr's, or leaked by it. */
async function portsNotNeutrons(networkId: string): Promise<Stamped<Port>[]> {
  return (await neutron.listPorts({ network_id: networkId })).filter((p) => !p.device_owner.startsWith('network:'));
}

/** Sleeps until every object is older than gc's grace period, which protects objects mid-creation. */
async function outwaitGrace(objects: { created_at?: string; updated_at?: string }[], t: { diagnostic: (m: string) => void }): Promise<void> {
  const changed = Math.max(...objects.map((o) => Date.parse(o.updated_at ?? o.created_at ?? '') || 0));
  const wait = changed + (DEFAULT_GC_GRACE_SECONDS + 1) * 1000 - Date.now();
  if (wait <= 0) return;
  t.diagnostic(`waiting ${Math.round(wait / 1000)} s for the leftovers to leave gc's grace period`);
  await new Promise((r) => setTimeout(r, wait));
}

describe('restarts the daemon under test: kuryr gc after kill -9', () => {
  after(async () => {
    if (!daemonAlive()) await restartKuryr(); // a failed test must not leave the daemon dead
    await docker('rm', '-f', ...containers).catch(() => undefined);
    await removeQuietly('network', NET);
  });

  test(`killed during ${BURST} parallel container starts: the ports and devices it leaked exist, and kuryr gc removes them before docker network rm`, async (t) => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', CIDR, NET);
    const dockerId = await dockerNetworkId(NET);
    const [net] = await neutron.listNetworks({ tags: idTags(dockerId).join(',') });
    assert.ok(net, 'the Docker network has its Neutron network');
    const seenPorts = new Set<string>();
    const sample = async () => {
      for (const p of await neutron.listPorts({ network_id: net.id })) seenPorts.add(p.id);
    };

    // Runs fail while the daemon is dead (or succeed on Docker's retries): what is left is asserted.
    // A kill that happens to land between requests leaks nothing: then the burst and kill are repeated.
    let leaked: Awaited<ReturnType<typeof portsNotNeutrons>> = [];
    for (let round = 1; round <= MAX_ROUNDS && leaked.length === 0; round++) {
      const runs = containers.map((name) => docker('run', '-d', '--name', name, '--net', NET, IMAGE, 'sleep', '600').then(() => true, () => false));
      const seenBefore = seenPorts.size;
      await eventually('the burst to reach Neutron', async () => {
        await sample();
        return seenPorts.size >= seenBefore + 3 ? true : undefined;
      }, 60_000, 100);
      process.kill(Number(readFileSync(PID_FILE, 'utf8')), 'SIGKILL');
      await sample();
      await new Promise((r) => setTimeout(r, 1000));
      await restartKuryr();
      const started = (await Promise.all(runs)).filter(Boolean).length;
      await sample();
      await docker('rm', '-f', ...containers).catch(() => undefined); // some were never created
      // No container is left on the network: every port on it but Neutron's own is a leftover.
      assert.equal(await docker('network', 'inspect', '-f', '{{len .Containers}}', NET), '0', 'no container left on the network');
      leaked = await portsNotNeutrons(net.id);
      t.diagnostic(`round ${round}: ${started}/${BURST} containers started; ${seenPorts.size} ports seen on the network; ${leaked.length} leaked ports, ${(await devicesOf(seenPorts)).length} devices of the burst's ports on the host`);
    }
    assert.ok(leaked.length > 0, 'the kill left ports in Neutron for gc to collect (else this test proves nothing)');

    await outwaitGrace(leaked, t);
    // An operator runs gc again when it reports a failure (a Neutron call that timed out under load).
    let failed: string[] = [];
    for (let run = 1; run <= 2; run++) {
      const gc = await kuryrGc();
      for (const line of gc.lines) t.diagnostic(`kuryr gc (run ${run}): ${line}`);
      const ours = gc.lines.filter((l) => [...seenPorts].some((id) => l.includes(id) || l.includes(id.slice(0, 11))) || l.includes(net.id));
      failed = ours.filter((l) => / failed: /.test(l));
      if (failed.length === 0) break;
    }
    assert.deepEqual(failed, [], 'nothing of this network failed to be collected');
    assert.deepEqual((await portsNotNeutrons(net.id)).map((p) => p.id), [], 'gc deleted every leaked port while the Docker network still exists');
    assert.deepEqual(await neutron.listPorts({ id: leaked.map((p) => p.id) }), [], 'none of the leaked ports is left anywhere');
    // A veth whose container end Docker is still tearing down (its sandbox goes after `docker rm`) may outlive gc by a moment.
    await eventually('no tap/t_c device of the burst\'s ports left on the host', async () => ((await devicesOf(seenPorts)).length === 0 ? true : undefined), 60_000, 1000)
      .catch(async () => assert.deepEqual(await devicesOf(seenPorts), [], 'no tap/t_c device of the burst\'s ports is left on the host'));
    assert.equal((await neutron.listNetworks({ id: net.id })).length, 1, 'gc kept the network Docker still has');

    // The network, with nothing leaked on it, goes as any other.
    await docker('network', 'rm', NET);
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(dockerId).join(',') }), [], 'no Neutron network tagged for the Docker network');
    assert.deepEqual(await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, CIDR) }), [], 'no subnet pool for its CIDR');
  });
});
