/**
 * Kuryr's container image (scripts/build-image.sh, packaging/image/Dockerfile) run as an operator
 * would: `--net host --cap-drop ALL --cap-add NET_ADMIN`, config from a mounted /etc/kuryr, its
 * socket in a directory of its own under /run/docker/plugins, Docker's API mounted for DNS names.
 * Then a network, two containers pinging each other and a cleanup that leaves nothing in Neutron.
 * The test's daemon serves its own driver name and reads a copy of the stack's kuryr.conf without
 * metrics_listen (the stack's daemon holds it) and log_file (logs go to `docker logs`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILES, config, docker, dockerNetworkId, eventually, IMAGE, neutron, REPO, sh, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { readmeCommands } from './readme-blocks.js';
import { idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
/** The image's kuryr user (packaging/image/Dockerfile). */
const KURYR_UID = 42480;
const TAG = `kt-${suffix}`;
const DRIVER = `kt-img-${suffix}`;
const SOCKET_DIR = `/run/docker/plugins/${DRIVER}`;
const SOCKET = `${SOCKET_DIR}/${DRIVER}.sock`;
const DAEMON = `kt-kuryr-img-${suffix}`;
const NET = `kt-img-net-${suffix}`;
const containers = [`img-a-${suffix}`, `img-b-${suffix}`];
const DIST = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = await freePrefix();

const INSTALL_SECTION = 'Run as a container image';

/**
 * The README's commands as written, but for the names this test must not share with the stack
 * (its daemon is the driver `kuryr`) or other runs: image tag, this build's output, container
 * name, socket directory, config directory (a copy of the stack's, owned by the image's user).
 */
function installCommands(): string[] {
  const written = readmeCommands('Run as a container image');
  return written.map((line) => {
    const out = line
      .replaceAll('kuryr/libnetwork:latest', image)
      .replaceAll('--name kuryr-libnetwork ', `--name ${DAEMON} `)
      .replaceAll('/run/docker/plugins/kuryr', SOCKET_DIR)
      .replaceAll('/etc/kuryr:/etc/kuryr', `${confDir}:/etc/kuryr`)
      .replaceAll('--restart unless-stopped ', '');
    return out.replace(/\bscripts\/build-image\.sh\b/, `scripts/build-image.sh --tag ${TAG} --dist ${DIST}`);
  });
}

let skipReason = '';
let image = '';
let confDir = '';

function probe(): string {
  if (!existsSync('/usr/bin/mmdebstrap')) return 'mmdebstrap is not installed (scripts/test.sh installs it): the image base cannot be built';
  if (!existsSync('/etc/apt/sources.list.d/debian.sources')) return 'no /etc/apt/sources.list.d/debian.sources to build the Debian base from';
  return '';
}

/** A config directory the image's user owns: the stack's kuryr.conf, and the test's socket. */
function writeConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kuryr-image-conf-'));
  const conf = CONFIG_FILES.map((f) => readFileSync(f, 'utf8')).join('\n');
  const ours = conf.replace(/^(metrics_listen|log_file|log_dir|socket_path)\s*=.*$/gm, '').replace(/^\[DEFAULT\]\s*$/m, `[DEFAULT]\nsocket_path = ${SOCKET}`);
  assert.ok(ours.includes(`socket_path = ${SOCKET}`), `${CONFIG_FILES.join(', ')} has a [DEFAULT] section`);
  writeFileSync(join(dir, 'kuryr.conf'), ours, { mode: 0o600 });
  for (const p of [dir, join(dir, 'kuryr.conf')]) chownSync(p, KURYR_UID, KURYR_UID);
  return dir;
}

/** Both of the container's streams: kuryr-server logs JSON lines to stderr when kuryr.conf names no file. */
function daemonLogs(): Promise<string> {
  return sh('bash', ['-c', `/usr/bin/docker logs ${DAEMON} 2>&1`]);
}

async function ipOf(container: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, container);
}

describe('Kuryr as a container image', () => {
  before(async () => {
    skipReason = probe();
    if (skipReason) return;
    image = `kuryr/libnetwork:${TAG}`;
    confDir = writeConfig();
    const started = Date.now();
    for (const line of installCommands()) await sh('bash', ['-c', `cd ${REPO} && ${line}`], 600_000);
    console.log(`# built and started ${image} (README: ${INSTALL_SECTION}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await eventually(`the image's daemon to answer on ${SOCKET}`, async () => ((await unixJson(SOCKET, 'POST', '/Plugin.Activate')).status === 200 ? true : undefined), 60_000, 500);
    // It answers Docker's handshakes at once, and serves the rest once Neutron has answered.
    await eventually("the image's daemon to log that it serves", async () => (/kuryr-server serving/.test(await daemonLogs()) ? true : undefined), 120_000, 500);
  });

  after(async () => {
    for (const c of containers) await docker('rm', '-f', c).catch(() => undefined);
    await docker('network', 'rm', NET).catch(() => undefined);
    await docker('rm', '-f', DAEMON).catch(() => undefined);
    if (image) await docker('rmi', image).catch(() => undefined);
    rmSync(SOCKET_DIR, { recursive: true, force: true });
    if (confDir) rmSync(confDir, { recursive: true, force: true });
  });

  test('the daemon runs as the non-root kuryr user holding CAP_NET_ADMIN only, and logs to docker logs', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const pid = await docker('inspect', '-f', '{{.State.Pid}}', DAEMON);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${KURYR_UID}\\s+${KURYR_UID}\\s+${KURYR_UID}\\s+${KURYR_UID}$`, 'm'));
    // 1 << 12 is CAP_NET_ADMIN.
    assert.match(status, /^CapEff:\s+0000000000001000$/m);
    assert.match(status, /^CapBnd:\s+0000000000001000$/m);
    assert.match(await daemonLogs(), /"method":"Plugin.Activate","status":200/);
  });

  test('serves a network on which two containers get Neutron ports and ping each other; cleanup leaves nothing in Neutron', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', `${PREFIX}.0/24`, NET);
    const dockerId = await dockerNetworkId(NET);
    const net = (await neutron.listNetworks({ tags: idTags(dockerId).join(',') }))[0];
    assert.ok(net, 'Neutron has a network tagged for the Docker network');
    for (const c of containers) await docker('run', '-d', '--name', c, '--net', NET, IMAGE, 'sleep', '600');
    for (const c of containers) {
      const endpointId = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, c);
      const port = await eventually(`${c}'s Neutron port`, async () => (await neutron.listPorts({ tags: idTags(endpointId).join(',') }))[0]);
      assert.equal(port.network_id, net.id);
      assert.equal(port.device_owner, 'compute:kuryr');
      assert.equal(port['binding:host_id'], config.hostname);
      assert.equal(port.fixed_ips[0]!.ip_address, await ipOf(c));
    }
    await docker('exec', containers[0]!, 'ping', '-c', '2', '-W', '2', await ipOf(containers[1]!));
    await docker('exec', containers[1]!, 'ping', '-c', '2', '-W', '2', await ipOf(containers[0]!));

    await docker('rm', '-f', ...containers);
    await docker('network', 'rm', NET);
    assert.deepEqual(await neutron.listPorts({ network_id: net.id }), [], 'no port left');
    assert.deepEqual(await neutron.listSubnets({ network_id: net.id }), [], 'no subnet left');
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(dockerId).join(',') }), [], 'no network left');
    const pools = (await neutron.listSubnetPools({})).filter((p) => p.name === `${config.subnetpoolNamePrefix}-${PREFIX}.0/24`);
    assert.deepEqual(pools, [], 'no subnet pool left');
  });
});
