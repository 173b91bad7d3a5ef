import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { DRIVER, IMAGE, config, docker, dockerNetworkId, eventually, neutron, removeQuietly, restartKuryr, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGc } from './kuryr-gc.js';
import { DEFAULT_GC_GRACE_SECONDS } from '../../src/gc/index.js';
import type { Stamped } from '../../src/gc/reconcile.js';
import { endpointPortName, idTags } from '../../src/libnetwork/naming.js';
import type { SubnetPool } from '../../src/openstack/neutron-types.js';

/** The daemon under test: the stack's writes kuryr-server.pid, a private one (scripts/dev-daemon.sh) <driver>.pid. */
const PID_FILE = DRIVER === 'kuryr' ? '/run/kuryr/kuryr-server.pid' : `/run/kuryr/${DRIVER}.pid`;
const BURST = 20;

const suffix = uniq();
const CRASH_CIDR = await freeCidr(4);

async function neutronNetworkOf(dockerNetwork: string): Promise<{ dockerId: string; neutronId: string }> {
  const dockerId = await dockerNetworkId(dockerNetwork);
  const [net] = await neutron.listNetworks({ tags: idTags(dockerId).join(',') });
  assert.ok(net, `Docker network ${dockerNetwork} has its Neutron network`);
  return { dockerId, neutronId: net.id };
}

/** Host veth devices named after these ports (tap/t_c + 11 characters of the port ID). */
async function devicesOf(portIds: Iterable<string>): Promise<string[]> {
  const prefixes = new Set([...portIds].map((id) => id.slice(0, 11)));
  const links = JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => /^(tap|t_c)/.test(n) && prefixes.has(n.slice(3)));
}

const daemonAlive = () => {
  if (!existsSync(PID_FILE)) return false;
  try {
    process.kill(Number(readFileSync(PID_FILE, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
};

describe('kuryr gc', () => {
  const LEAK_NET = `kt-gcl-${suffix}`;
  const CRASH_NET = `kt-gcc-${suffix}`;
  const containers = Array.from({ length: BURST }, (_, i) => `gc-${suffix}-${i}`);
  const leakedPorts: string[] = [];

  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), LEAK_NET);
  });

  after(async () => {
    if (!daemonAlive()) await restartKuryr(); // a failed test must not leave the daemon dead
    for (const id of leakedPorts) await neutron.deletePort(id).catch(() => undefined);
    await docker('rm', '-f', ...containers).catch(() => undefined);
    await removeQuietly('network', LEAK_NET, CRASH_NET);
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

  test(`after kill -9 during ${BURST} parallel container starts, kuryr gc leaves nothing of the network in Neutron or on the host`, async (t) => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', CRASH_CIDR, CRASH_NET);
    const { dockerId, neutronId } = await neutronNetworkOf(CRASH_NET);
    const POOL = `${config.subnetpoolNamePrefix}-${CRASH_CIDR}`;
    const seenPorts = new Set<string>();
    const sample = async () => {
      for (const p of await neutron.listPorts({ network_id: neutronId })) seenPorts.add(p.id);
    };

    // Runs fail while the daemon is dead (or succeed on Docker's retries): the cleanup is what is asserted.
    const runs = containers.map((name) => docker('run', '-d', '--name', name, '--net', CRASH_NET, IMAGE, 'sleep', '600').then(() => true, () => false));
    await eventually('the burst to reach Neutron', async () => {
      await sample();
      return seenPorts.size >= 3 ? true : undefined;
    }, 60_000, 100);
    process.kill(Number(readFileSync(PID_FILE, 'utf8')), 'SIGKILL');
    await sample();
    await new Promise((r) => setTimeout(r, 1000));
    await restartKuryr();
    const started = (await Promise.all(runs)).filter(Boolean).length;
    await sample();
    t.diagnostic(`${started}/${BURST} containers started; ${seenPorts.size} ports seen on the network`);

    await docker('rm', '-f', ...containers).catch(() => undefined); // some were never created
    await docker('network', 'rm', CRASH_NET);
    t.diagnostic(`before gc: ${(await devicesOf(seenPorts)).length} devices of those ports on the host, ${(await neutron.listPorts({ network_id: neutronId })).length} ports on the network`);

    // A pool ReleasePool could not delete (Docker may release it before deleting the network) is
    // judged once older than the grace period that protects pools mid `docker network create`.
    const [leftoverPool] = (await neutron.listSubnetPools({ name: POOL })) as Stamped<SubnetPool>[];
    const wait = leftoverPool ? Date.parse(leftoverPool.created_at ?? '') + (DEFAULT_GC_GRACE_SECONDS + 1) * 1000 - Date.now() : 0;
    if (wait > 0) {
      t.diagnostic(`waiting ${Math.round(wait / 1000)} s for the leftover pool to leave the grace period`);
      await new Promise((r) => setTimeout(r, wait));
    }

    const gc = await kuryrGc();
    for (const line of gc.lines) t.diagnostic(`kuryr gc: ${line}`);
    const ours = gc.lines.filter((l) => [...seenPorts].some((id) => l.includes(id) || l.includes(id.slice(0, 11))) || l.includes(neutronId) || l.includes(CRASH_CIDR));
    assert.deepEqual(ours.filter((l) => / failed: /.test(l)), [], 'nothing of this network failed to be collected');

    assert.deepEqual(await neutron.listNetworks({ tags: idTags(dockerId).join(',') }), [], 'no Neutron network tagged for the Docker network');
    assert.deepEqual(await neutron.listPorts({ network_id: neutronId }), [], 'no port on its Neutron network');
    assert.deepEqual(await neutron.listPorts({ id: [...seenPorts] }), [], 'none of the ports seen during the burst');
    assert.deepEqual(await neutron.listSubnetPools({ name: POOL }), [], 'no subnet pool for its CIDR');
    assert.deepEqual(await devicesOf(seenPorts), [], 'no tap/t_c device of those ports on the host');
  });
});
