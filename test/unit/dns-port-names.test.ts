import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DockerApiError, type DockerContainer, type DockerNetwork } from '../../src/docker/client.js';
import { PortDnsNamer, containerDnsName, dnsLabel } from '../../src/dns/port-dns-names.js';
import { silentLogger } from '../../src/log.js';
import { NeutronError } from '../../src/openstack/errors.js';
import type { Port } from '../../src/openstack/neutron-types.js';

test('Docker names become valid DNS labels', () => {
  assert.equal(dnsLabel('web-1a2b3c'), 'web-1a2b3c');
  assert.equal(dnsLabel('My_App.Replica_2'), 'my-app-replica-2');
  assert.equal(dnsLabel('--edge__case--'), 'edge-case');
  assert.equal(dnsLabel('a'.repeat(70)), 'a'.repeat(63));
  assert.equal(dnsLabel(`${'b'.repeat(62)}_x`), 'b'.repeat(62), 'no trailing dash after the cut');
  assert.equal(dnsLabel('___'), undefined);
});

test("a container answers to its chosen host name, else to its name (Docker's default host name is its short ID)", () => {
  const id = '4f1c2a3b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70';
  assert.equal(containerDnsName({ id, name: '/web', hostname: id.slice(0, 12) }), 'web');
  assert.equal(containerDnsName({ id, name: '/web', hostname: 'Frontend' }), 'frontend');
  assert.equal(containerDnsName({ id, name: 'web', hostname: '' }), 'web');
});

const NET = 'net-1';
function port(id: string, extra: Partial<Port> = {}): Port {
  return { id, name: '', network_id: 'n', mac_address: '', fixed_ips: [], device_id: '', device_owner: 'compute:kuryr', admin_state_up: true, status: 'DOWN', security_groups: [], tags: ['compute:kuryr'], dns_name: '', ...extra };
}

/** Docker whose network shows endpoints only once "started"; counts its calls. */
class FakeDocker {
  endpoints: Record<string, { container: string; name: string }> = {};
  hostnames: Record<string, string> = {};
  inspects = 0;
  failNetwork?: Error;
  async inspectNetwork(id: string): Promise<DockerNetwork> {
    this.inspects++;
    if (this.failNetwork) throw this.failNetwork;
    const Containers = Object.fromEntries(Object.entries(this.endpoints).map(([ep, c]) => [c.container, { Name: c.name, EndpointID: ep, MacAddress: '', IPv4Address: '', IPv6Address: '' }]));
    return { Id: id, Name: 'n', Driver: 'kuryr', Scope: 'local', IPAM: { Driver: 'kuryr', Config: [] }, Containers };
  }
  async inspectContainer(id: string): Promise<DockerContainer> {
    return { Id: id, Name: '/x', Config: { Hostname: this.hostnames[id] ?? id.slice(0, 12), Domainname: '' }, State: { Status: 'running', Running: true, Pid: 1 }, NetworkSettings: { Networks: {} } };
  }
}

function namer(docker: FakeDocker, updates: [string, string][], opts: { fail?: (portId: string) => Error | undefined } = {}) {
  return new PortDnsNamer({
    docker,
    neutron: {
      updatePort: async (id, body) => {
        const err = opts.fail?.(id);
        if (err) throw err;
        updates.push([id, body.dns_name ?? '']);
        return port(id, body);
      },
    },
    logger: silentLogger,
    retryDelaysMs: [5, 5, 5, 5],
  });
}

test('the port gets the container name once the container shows up in its network, with one inspect per network per round', async () => {
  const docker = new FakeDocker();
  const updates: [string, string][] = [];
  const n = namer(docker, updates);
  n.onEndpointJoined({ endpointId: 'e1', networkId: NET, port: port('p1'), settled: Promise.resolve() });
  n.onEndpointJoined({ endpointId: 'e2', networkId: NET, port: port('p2'), settled: Promise.resolve() });
  assert.deepEqual(updates, [], 'nothing happens inside the plugin call');
  setTimeout(() => {
    docker.endpoints = { e1: { container: 'c1', name: 'web-1' }, e2: { container: 'c2', name: 'Web_2' } };
    docker.hostnames = { c2: 'api' };
  }, 8);
  await n.whenIdle();
  assert.deepEqual(updates.sort(), [['p1', 'web-1'], ['p2', 'api']]);
  assert.ok(docker.inspects <= 4, `one inspect serves both endpoints (${docker.inspects})`);
});

test('retries are bounded: an endpoint whose container never shows up gets no name', async () => {
  const docker = new FakeDocker();
  const updates: [string, string][] = [];
  const n = namer(docker, updates);
  n.onEndpointJoined({ endpointId: 'e9', networkId: NET, port: port('p9'), settled: Promise.resolve() });
  await n.whenIdle();
  assert.deepEqual(updates, []);
  assert.equal(docker.inspects, 4);
});

test('adopted ports keep their own DNS name; a name already set is not written again', async () => {
  const docker = new FakeDocker();
  docker.endpoints = { e1: { container: 'c1', name: 'web' }, e2: { container: 'c2', name: 'db' } };
  const updates: [string, string][] = [];
  const n = namer(docker, updates);
  n.onEndpointJoined({ endpointId: 'e1', networkId: NET, port: port('p1', { tags: ['kuryr.port.existing'] }), settled: Promise.resolve() });
  n.onEndpointJoined({ endpointId: 'e2', networkId: NET, port: port('p2', { dns_name: 'db' }), settled: Promise.resolve() });
  await n.whenIdle();
  assert.deepEqual(updates, []);
});

test('Neutron refusing the name is not retried; Docker being down is, and nothing ever throws into Join', async () => {
  const docker = new FakeDocker();
  docker.endpoints = { e1: { container: 'c1', name: 'web' } };
  docker.failNetwork = new DockerApiError('Docker GET /v1.41/networks/net-1: cannot reach dockerd', undefined);
  const updates: [string, string][] = [];
  let refusals = 0;
  const n = namer(docker, updates, {
    fail: () => {
      refusals++;
      return new NeutronError({ method: 'PUT', path: '/v2.0/ports/p1', httpStatus: 400, type: 'InvalidInput', neutronMessage: 'bad dns_name' });
    },
  });
  n.onEndpointJoined({ endpointId: 'e1', networkId: NET, port: port('p1'), settled: Promise.resolve() });
  setTimeout(() => (docker.failNetwork = undefined), 8);
  await n.whenIdle();
  assert.equal(refusals, 1, 'one PUT once Docker answered, no retry after a 400');
  assert.ok(docker.inspects >= 2, 'Docker errors were retried');
  n.close();
  assert.doesNotThrow(() => n.onEndpointJoined({ endpointId: 'e2', networkId: NET, port: port('p2'), settled: Promise.resolve() }));
});

/** Joins endpoint e1 on port p1 while CreateEndpoint's background claim is under way; returns what lands it. */
function joinWhileClaiming(n: ReturnType<typeof namer>): () => void {
  let land!: () => void;
  const settled = new Promise<void>((resolve) => (land = resolve));
  n.onEndpointJoined({ endpointId: 'e1', networkId: NET, port: port('p1'), settled });
  return land;
}

test("the name is written only after CreateEndpoint's background update of the port has landed", async () => {
  const docker = new FakeDocker();
  docker.endpoints = { e1: { container: 'c1', name: 'web' } };
  const updates: [string, string][] = [];
  const n = namer(docker, updates);
  const land = joinWhileClaiming(n);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(updates, [], 'a pooled claim (If-Match) must not be overtaken');
  land();
  await n.whenIdle();
  assert.deepEqual(updates, [['p1', 'web']]);
});

test('a Neutron without dns-integration turns the feature off at the first refusal', async () => {
  const docker = new FakeDocker();
  docker.endpoints = { e1: { container: 'c1', name: 'web' }, e2: { container: 'c2', name: 'db' } };
  let attempts = 0;
  const n = namer(docker, [], {
    fail: () => {
      attempts++;
      return new NeutronError({ method: 'PUT', path: '/v2.0/ports/p', httpStatus: 400, type: 'HTTPBadRequest', neutronMessage: "Unrecognized attribute(s) 'dns_name'" });
    },
  });
  n.onEndpointJoined({ endpointId: 'e1', networkId: NET, port: port('p1'), settled: Promise.resolve() });
  await n.whenIdle();
  n.onEndpointJoined({ endpointId: 'e2', networkId: NET, port: port('p2'), settled: Promise.resolve() });
  await n.whenIdle();
  assert.equal(attempts, 1);
});

test('a deleted endpoint gets no name afterwards: its port goes back to a pool', async () => {
  const docker = new FakeDocker();
  docker.endpoints = { e1: { container: 'c1', name: 'gone' } };
  const updates: [string, string][] = [];
  const n = namer(docker, updates);
  const settle = joinWhileClaiming(n);
  await new Promise((r) => setTimeout(r, 20)); // e1's batch now waits for the claim to settle
  await n.onEndpointDeleted('e1');
  settle();
  await n.whenIdle();
  assert.deepEqual(updates, []);
});
