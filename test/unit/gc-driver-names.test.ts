/**
 * Which Docker driver names gc treats as its own. Inside a managed (v2) plugin Docker names the
 * plugin's networks `NAME:TAG`, which gc learns from the plugin ID in /proc/self/cgroup and Docker's
 * plugin list; elsewhere the names are the socket's, as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DockerApiError, type DockerApi, type DockerContainer, type DockerNetwork, type DockerPlugin, type DockerVersion } from '../../src/docker/client.js';
import { servedDriverNamesWithPluginName } from '../../src/gc/driver-names.js';
import { runGc, type GcDeps } from '../../src/gc/index.js';
import { idTags } from '../../src/libnetwork/naming.js';
import { silentLogger } from '../../src/log.js';
import type { Network, Port } from '../../src/openstack/neutron-types.js';
import { fakeNeutron } from './libnetwork-fakes.js';
import { captureLogger } from './openstack-fake-servers.js';

const HOST = 'node-1';
const OLD = '2026-01-01T11:00:00Z';
const PLUGIN_ID = '626fb9f359421dc0c301953dabf3daff1689138d9c3efb7ed179f5014fd05364';
const PLUGIN_NAME = 'kuryr/libnetwork2:latest';
/** /proc/self/cgroup of kuryr-server in a managed plugin (cgroup v1, dockerd 20.10), as read on the dev machine. */
const PLUGIN_CGROUPS = [
  `9:name=systemd:/${PLUGIN_ID}`,
  `8:pids:/${PLUGIN_ID}`,
  `4:memory:/process_api/bbb928e0365454bddd782eedbc2e84a0/${PLUGIN_ID}`,
  `1:cpu:/${PLUGIN_ID}`,
  `0::/${PLUGIN_ID}`,
].join('\n');
/** A process on the host: no path names a 64-hex ID (the 32-hex one is not Docker's). */
const HOST_CGROUPS = '9:name=systemd:/\n4:memory:/process_api/e3022b0d67f7e61a40260855fe5a8af0\n0::/\n';
/** A process in an ordinary container (systemd cgroup driver, cgroup v2): an ID, but no plugin's. */
const CONTAINER_CGROUPS = `0::/system.slice/docker-${'c0'.repeat(32)}.scope\n`;
/** What plugin.conf dictates inside the plugin: Docker's socket name is not the driver name. */
const SOCKET_NAME = 'kuryr-libnetwork';

function plugin(id: string, name: string): DockerPlugin {
  return { Id: id, Name: name, Enabled: true, Config: { Interface: { Socket: `${SOCKET_NAME}.sock`, Types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'] } } };
}

/** A dockerd with these networks (no endpoints) and this answer to GET /plugins. */
class FakeDocker implements DockerApi {
  pluginLists = 0;
  constructor(
    private readonly networks: DockerNetwork[],
    private readonly plugins: DockerPlugin[] | Error,
  ) {}
  async version(): Promise<DockerVersion> {
    return { Version: '20.10.24', ApiVersion: '1.41' };
  }
  async listNetworks(): Promise<DockerNetwork[]> {
    return this.networks;
  }
  async inspectNetwork(id: string): Promise<DockerNetwork> {
    const net = this.networks.find((n) => n.Id === id);
    if (!net) throw new DockerApiError(`network ${id} not found`, 404);
    return { ...net, Containers: {} };
  }
  async listContainers(): Promise<[]> {
    return [];
  }
  async inspectContainer(id: string): Promise<DockerContainer> {
    throw new DockerApiError(`no such container: ${id}`, 404);
  }
  async listPlugins(): Promise<DockerPlugin[]> {
    this.pluginLists++;
    if (this.plugins instanceof Error) throw this.plugins;
    return this.plugins;
  }
}

const config = {
  hostname: HOST,
  subnetpoolNamePrefix: 'kuryrPool',
  neutron: { defaultSubnetpoolV4: 'kuryr', defaultSubnetpoolV6: 'kuryr6' },
  socketPath: `/run/docker/plugins/${SOCKET_NAME}.sock`,
  pluginSpecDir: '',
  kuryrUri: '',
  defaultPortDriver: 'veth',
  binding: {},
} as unknown as GcDeps['config'];

const namesOf = (cgroups: string, docker: FakeDocker, logger = silentLogger) =>
  servedDriverNamesWithPluginName({ config, docker, logger, readOwnCgroups: async () => cgroups });

test("inside a managed plugin, gc serves the plugin's NAME:TAG too, found by the plugin ID in its cgroup paths", async () => {
  const docker = new FakeDocker([], [plugin('ab'.repeat(32), 'vieux/sshfs:latest'), plugin(PLUGIN_ID, PLUGIN_NAME)]);
  assert.deepEqual(await namesOf(PLUGIN_CGROUPS, docker), [SOCKET_NAME, PLUGIN_NAME]);
});

test("outside a plugin the names are the socket's: a host process does not ask Docker, a container that is no plugin finds none", async () => {
  const docker = new FakeDocker([], [plugin(PLUGIN_ID, PLUGIN_NAME)]);
  assert.deepEqual(await namesOf(HOST_CGROUPS, docker), [SOCKET_NAME]);
  assert.equal(docker.pluginLists, 0, 'Docker is not asked');
  assert.deepEqual(await namesOf(CONTAINER_CGROUPS, docker), [SOCKET_NAME]);
  assert.deepEqual(await namesOf('', docker), [SOCKET_NAME], 'an unreadable /proc/self/cgroup reads as no plugin');
});

const portId = (i: number) => `${i}`.repeat(8) + '-1111-2222-3333-444455556666';

/** Two live Docker networks with an orphan Kuryr port each (its endpoint is in no network): one of the plugin's driver, one of its socket's name. */
function twoNetworksWithOrphans(plugins: DockerPlugin[] | Error) {
  const networks: Network[] = [];
  const ports: Port[] = [];
  const dockerNets: DockerNetwork[] = [];
  for (const [i, driver] of [PLUGIN_NAME, SOCKET_NAME].entries()) {
    const dockerId = `${i}`.repeat(64);
    const net = { id: `net-${i}`, name: `kuryr-net-${i}`, shared: false, admin_state_up: true, tags: idTags(dockerId), created_at: OLD, updated_at: OLD };
    const endpointId = `e${i}`.repeat(32);
    networks.push(net);
    ports.push({
      id: portId(i), name: `${endpointId}-port`, network_id: net.id, mac_address: 'fa:16:3e:00:00:01', fixed_ips: [{ subnet_id: 's', ip_address: `10.0.${i}.5` }],
      device_id: endpointId, device_owner: 'compute:kuryr', admin_state_up: true, status: 'DOWN', security_groups: [], tags: ['compute:kuryr', ...idTags(endpointId)],
      'binding:host_id': HOST, created_at: OLD, updated_at: OLD,
    } as Port);
    dockerNets.push({ Id: dockerId, Name: `net-${i}`, Driver: driver, Scope: 'local', IPAM: { Driver: driver, Config: [] } });
  }
  const { neutron } = fakeNeutron({ listSecurityGroups: () => [], listNetworks: () => networks, listPorts: () => ports, listSubnetPools: () => [], listSubnets: () => [] });
  return { neutron, docker: new FakeDocker(dockerNets, plugins), listDevices: async () => [], deleteDevice: async () => undefined };
}

async function wouldDelete(deps: Omit<GcDeps, 'config'>, cgroups: string): Promise<string[]> {
  const outcomes = await runGc({ ...deps, config, readOwnCgroups: async () => cgroups }, { dryRun: true, gracePeriodSeconds: 120, unattributedNetworks: false });
  return outcomes.filter((o) => o.result === 'would delete' && o.action.kind === 'port').map((o) => (o.action.kind === 'port' ? o.action.port.id : ''));
}

test("gc in a managed plugin judges the orphans on the plugin's own networks; the same daemon outside a plugin leaves them to their driver", async () => {
  assert.deepEqual(await wouldDelete({ ...twoNetworksWithOrphans([plugin(PLUGIN_ID, PLUGIN_NAME)]), logger: silentLogger }, PLUGIN_CGROUPS), [portId(0), portId(1)]);
  assert.deepEqual(await wouldDelete({ ...twoNetworksWithOrphans([plugin(PLUGIN_ID, PLUGIN_NAME)]), logger: silentLogger }, HOST_CGROUPS), [portId(1)]);
});

test("Docker refusing GET /plugins: gc still runs with the socket's name and logs why", async () => {
  const log = captureLogger();
  const refused = new DockerApiError('Docker GET /v1.41/plugins: 403 access to /plugins denied', 403);
  assert.deepEqual(await wouldDelete({ ...twoNetworksWithOrphans(refused), logger: log.logger }, PLUGIN_CGROUPS), [portId(1)]);
  const warning = log.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; err: string }).find((l) => l.level === 40);
  assert.ok(warning, `a warning is logged:\n${log.text()}`);
  assert.equal(warning.err, refused.message);
  assert.match(warning.msg, new RegExp(`gc judges only networks of driver ${SOCKET_NAME};`));
});
