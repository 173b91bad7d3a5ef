/**
 * Kuryr as a Docker managed (v2) plugin on the stack's dockerd: scripts/build-plugin.sh builds it
 * from this build (the rootfs's Debian base is built once and cached), `docker plugin create`,
 * `enable`, then what the legacy plugin does (networks, containers, ping, pools), Docker's refusal
 * to disable a plugin in use, `docker plugin upgrade` to a second build with networks and
 * endpoints kept, and a cleanup that leaves nothing in Neutron. The plugin reads a copy of the
 * stack's kuryr.conf from a config directory of its own (`docker plugin set config.source=`),
 * without metrics_listen, which the stack's daemon holds on this host, and with gc_interval: the
 * plugin's own gc removes an orphan port from the plugin's live network (Docker names that network's
 * driver NAME:TAG, which gc inside the plugin learns from Docker).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILES, config, docker, dockerFails, dockerNetworkId, eventually, IMAGE, neutron, REPO, sh, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { startLocalRegistry, type LocalRegistry } from './local-registry.js';
import { readmeCommands } from './readme-blocks.js';
import { DEFAULT_GC_GRACE_SECONDS } from '../../src/gc/index.js';
import type { Stamped } from '../../src/gc/reconcile.js';
import { DEVICE_OWNER, endpointPortName, idTags, PORT_OWNED_TAG, PORT_POOLED_TAG } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const NAME = 'kuryr/libnetwork2';
/** A tag of its own: other tests (Swarm) may hold kuryr/libnetwork2:latest on this dockerd. */
const TAG = `kt-${suffix}`;
const REF = `${NAME}:${TAG}`;
const NET = `kt-v2-${suffix}`;
const POOLED = `kt-v2p-${suffix}`;
const containers = [`v2a-${suffix}`, `v2b-${suffix}`, `v2c-${suffix}`, `v2p-${suffix}`];
/** This build's TypeScript output: the plugin carries the code under test. */
const DIST = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_PLUGIN = join(REPO, 'scripts/build-plugin.sh');
const PREFIX = await freePrefix();
const POOL_PREFIX = await freePrefix();
/** Seconds between the plugin's gc runs: often, so that the test waits little past gc's grace period. */
const GC_INTERVAL = 10;

/** The README's install section, run as written but for the test's own tag, build and config dir. */
const INSTALL_SECTION = 'Install as a Docker managed plugin';

function installCommands(): string[] {
  const written = readmeCommands('Install as a Docker managed plugin');
  return written.map((line) => {
    assert.match(line, /^bash scripts\/build-plugin\.sh( |$)/, `${INSTALL_SECTION}: this test knows how to run only scripts/build-plugin.sh, not: ${line}`);
    assert.doesNotMatch(line, /--(tag|dist|config)\b/, `${INSTALL_SECTION}: the test sets --tag, --dist and --config itself`);
    return line.replace('scripts/build-plugin.sh', `scripts/build-plugin.sh --tag ${TAG} --dist ${DIST} --config ${confDir}`);
  });
}

let skipReason = '';
let confDir = '';
let registry: LocalRegistry | undefined;
/** Neutron network IDs of the test's Docker networks, for the final sweep. */
const neutronNets = new Map<string, string>();
/** A port left on NET as a crash between CreateEndpoint and Docker recording the endpoint leaves one. */
let orphan: Stamped<Port> | undefined;

function probe(): string {
  if (!existsSync('/usr/bin/mmdebstrap')) return 'mmdebstrap is not installed (scripts/test.sh installs it): the plugin rootfs cannot be built';
  if (!existsSync('/etc/apt/sources.list.d/debian.sources')) return 'no /etc/apt/sources.list.d/debian.sources to build the Debian rootfs from';
  return '';
}

async function buildPlugin(name: string, tag: string): Promise<void> {
  const started = Date.now();
  await sh('bash', [BUILD_PLUGIN, '--name', name, '--tag', tag, '--dist', DIST], 600_000);
  console.log(`# built and created ${name}:${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Points the (disabled) plugin at the test's config directory. */
async function useTestConfig(): Promise<void> {
  await docker('plugin', 'set', REF, `config.source=${confDir}`);
}

async function endpointOf(container: string, network: string): Promise<{ endpointId: string; ip: string }> {
  const f = `{{(index .NetworkSettings.Networks "${network}").EndpointID}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`;
  const [endpointId, ip] = (await docker('inspect', '-f', f, container)).split(' ');
  return { endpointId: endpointId!, ip: ip! };
}

async function portOf(container: string, network: string): Promise<Port> {
  const { endpointId } = await endpointOf(container, network);
  return eventually(`${container}'s Neutron port tagged with its endpoint`, async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0]);
}

async function createNetwork(name: string, prefix: string, ...opts: string[]): Promise<string> {
  await docker('network', 'create', '-d', REF, '--ipam-driver', REF, '--subnet', `${prefix}.0/24`, ...opts, name);
  const id = await dockerNetworkId(name);
  const net = (await neutron.listNetworks({ tags: idTags(id).join(',') }))[0];
  assert.ok(net, `Neutron has a network tagged for Docker network ${name}`);
  neutronNets.set(name, net.id);
  return net.id;
}

/** A Kuryr port for an endpoint Docker never recorded: Kuryr's owner and tags, bound to this host. */
function leakPort(networkId: string): Promise<Stamped<Port>> {
  const endpointId = randomBytes(32).toString('hex');
  const tags = [PORT_OWNED_TAG, ...idTags(endpointId)];
  return neutron.createPort({ name: endpointPortName(endpointId), network_id: networkId, device_owner: DEVICE_OWNER, device_id: endpointId, 'binding:host_id': config.hostname, tags } as Partial<Port>);
}

async function ping(from: string, to: string, network: string): Promise<void> {
  await docker('exec', from, 'ping', '-c', '2', '-W', '2', (await endpointOf(to, network)).ip);
}

describe('Kuryr as a Docker managed plugin', () => {
  before(async () => {
    skipReason = probe();
    if (skipReason) return;
    confDir = mkdtempSync(join(tmpdir(), 'kuryr-plugin-conf-'));
    const conf = CONFIG_FILES.map((f) => readFileSync(f, 'utf8')).join('\n');
    writeFileSync(join(confDir, 'kuryr.conf'), `${conf.replace(/^metrics_listen\s*=.*$/gm, '')}\n[DEFAULT]\ngc_interval = ${GC_INTERVAL}\n`, { mode: 0o600 });
    const started = Date.now();
    for (const line of installCommands()) await sh('bash', ['-c', `cd ${REPO} && ${line}`], 600_000);
    console.log(`# installed ${REF} (README: ${INSTALL_SECTION}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  after(async () => {
    for (const c of containers) await docker('rm', '-f', c).catch(() => undefined);
    for (const n of [NET, POOLED]) await docker('network', 'rm', n).catch(() => undefined);
    await docker('plugin', 'disable', '-f', REF).catch(() => undefined);
    await docker('plugin', 'rm', '-f', REF).catch(() => undefined);
    await registry?.close();
    if (orphan) await neutron.deletePort(orphan.id).catch(() => undefined);
    if (confDir) rmSync(confDir, { recursive: true, force: true });
  });

  test('serves a network on which two containers get Neutron ports and ping each other', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.equal(await docker('plugin', 'inspect', '-f', '{{.Enabled}}', REF), 'true');
    const netId = await createNetwork(NET, PREFIX);
    // For the gc test: made first, so that it leaves gc's grace period while the tests in between run.
    orphan = await leakPort(netId);
    await docker('run', '-d', '--name', containers[0]!, '--net', NET, IMAGE, 'sleep', '900');
    await docker('run', '-d', '--name', containers[1]!, '--net', NET, IMAGE, 'sleep', '900');
    for (const c of containers.slice(0, 2)) {
      const port = await portOf(c, NET);
      assert.equal(port.network_id, netId);
      assert.equal(port.device_owner, 'compute:kuryr');
      assert.equal(port['binding:host_id'], config.hostname, 'bound to this host as its agent knows it');
      assert.equal(port.fixed_ips[0]!.ip_address, (await endpointOf(c, NET)).ip);
      await eventually(`${c}'s port ACTIVE`, async () => ((await neutron.getPort(port.id)).status === 'ACTIVE' ? true : undefined), 30_000, 500);
    }
    await ping(containers[0]!, containers[1]!, NET);
    await ping(containers[1]!, containers[0]!, NET);
  });

  test('serves a pooled network: a container takes a ready pooled port', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const netId = await createNetwork(POOLED, POOL_PREFIX, '-o', 'kuryr.pool=true');
    const free = await eventually('the pool to fill', async () => {
      const ports = await neutron.listPorts({ network_id: netId, tags: PORT_POOLED_TAG, device_id: '' });
      return ports.length > 0 ? ports : undefined;
    });
    await docker('run', '-d', '--name', containers[3]!, '--net', POOLED, IMAGE, 'sleep', '900');
    const { ip, endpointId } = await endpointOf(containers[3]!, POOLED);
    const taken = free.find((p) => p.fixed_ips[0]!.ip_address === ip);
    assert.ok(taken, `the container's address ${ip} is a ready pooled port's`);
    // The claim reaches Neutron just after Docker is answered.
    const port = await eventually('the pooled port claimed for the endpoint', async () => {
      const p = await neutron.getPort(taken.id);
      return p.device_id === endpointId ? p : undefined;
    });
    assert.equal(port.device_owner, 'compute:kuryr');
    assert.equal(port['binding:host_id'], config.hostname);
    await docker('rm', '-f', containers[3]!);
    await docker('network', 'rm', POOLED);
    assert.deepEqual(await neutron.listPorts({ network_id: netId }), [], 'network rm drained the pool');
  });

  test('docker plugin disable is refused while a network uses the plugin', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const err = await dockerFails('plugin', 'disable', REF);
    assert.match(err, /in use/);
    assert.equal(await docker('plugin', 'inspect', '-f', '{{.Enabled}}', REF), 'true');
  });

  test('docker plugin upgrade to a second build keeps the network, its endpoints and their ports', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const networkBefore = await dockerNetworkId(NET);
    const portsBefore = await Promise.all(containers.slice(0, 2).map((c) => portOf(c, NET)));
    // Docker upgrades only from a registry, and only a disabled plugin (-f: a network uses it).
    registry = await startLocalRegistry();
    const remote = `${registry.host}/${NAME}:${TAG}-v2`;
    await buildPlugin(`${registry.host}/${NAME}`, `${TAG}-v2`);
    await docker('plugin', 'push', remote);
    await docker('plugin', 'rm', remote);
    await docker('plugin', 'disable', '-f', REF);
    // The CLI asks for confirmation when the plugin's repository changes.
    await sh('bash', ['-c', `echo y | /usr/bin/docker plugin upgrade --grant-all-permissions ${REF} ${remote}`], 300_000);
    assert.equal(await docker('plugin', 'inspect', '-f', '{{.PluginReference}}', REF), remote);
    // dockerd 20.10 starts an upgraded plugin with the new config.json's mount sources, although
    // `docker plugin inspect` still shows the old settings: set them again before enable.
    await useTestConfig();
    await docker('plugin', 'enable', REF);

    assert.equal(await dockerNetworkId(NET), networkBefore, 'the network is still there');
    assert.ok((await neutron.listNetworks({ tags: idTags(networkBefore).join(',') })).length === 1, 'and so is its Neutron network');
    const portsAfter = await Promise.all(containers.slice(0, 2).map((c) => portOf(c, NET)));
    assert.deepEqual(portsAfter.map((p) => p.id), portsBefore.map((p) => p.id), 'the endpoints keep their Neutron ports');
    await ping(containers[0]!, containers[1]!, NET);
    await docker('run', '-d', '--name', containers[2]!, '--net', NET, IMAGE, 'sleep', '900');
    await ping(containers[2]!, containers[0]!, NET);
  });

  test("the plugin's own gc removes an orphan Kuryr port from the plugin's live network and keeps its containers' ports", async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(orphan, 'the first test left an orphan port on the network');
    const left = orphan;
    const started = Date.now();
    // gc judges a port only once unchanged for its grace period, then at its next run.
    const graceLeftMs = (Date.parse(left.updated_at ?? left.created_at ?? '') || started) + DEFAULT_GC_GRACE_SECONDS * 1000 - started;
    t.diagnostic(`orphan port ${left.id}: ${Math.max(0, Math.round(graceLeftMs / 1000))} s of gc's grace period left`);
    await eventually(`the plugin's gc to delete orphan port ${left.id}`, async () => ((await neutron.listPorts({ id: left.id })).length === 0 ? true : undefined), Math.max(0, graceLeftMs) + (3 * GC_INTERVAL + 30) * 1000, 1000);
    t.diagnostic(`deleted ${((Date.now() - started) / 1000).toFixed(1)} s after the test started waiting`);
    orphan = undefined;
    // The run that deleted the orphan judged every port on the network: the containers' are still there.
    for (const c of containers.slice(0, 3)) assert.equal((await portOf(c, NET)).device_owner, DEVICE_OWNER, `${c}'s port is kept`);
    await ping(containers[2]!, containers[1]!, NET);
  });

  test('removing the containers and the network leaves nothing in Neutron; docker plugin rm removes the plugin', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const dockerId = await dockerNetworkId(NET);
    await docker('rm', '-f', ...containers.slice(0, 3));
    await docker('network', 'rm', NET);
    for (const [name, netId] of neutronNets) {
      assert.deepEqual(await neutron.listPorts({ network_id: netId }), [], `no port left on ${name}'s Neutron network`);
      assert.deepEqual(await neutron.listSubnets({ network_id: netId }), [], `no subnet left on ${name}'s Neutron network`);
    }
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(dockerId).join(',') }), [], 'no Neutron network tagged for the Docker network');
    const pools = (await neutron.listSubnetPools({})).filter((p) => [PREFIX, POOL_PREFIX].some((x) => p.name === `${config.subnetpoolNamePrefix}-${x}.0/24`));
    assert.deepEqual(pools, [], 'no subnet pool left for the test subnets');
    await docker('plugin', 'disable', REF);
    await docker('plugin', 'rm', REF);
    assert.ok(!(await docker('plugin', 'ls', '--format', '{{.Name}}')).split('\n').includes(REF));
  });
});
