/**
 * The exposed- and published-ports state is bounded: only endpoints that have a port get an entry,
 * and the entry goes with the endpoint. Requests naming endpoints the daemon does not know (random
 * IDs, a flood) leave nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KuryrError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { OPT_EXPOSED_PORTS, OPT_PORT_MAP } from '../../src/libnetwork/api.js';
import type { DriverContext } from '../../src/libnetwork/context.js';
import { ExposedPorts } from '../../src/libnetwork/exposed-ports.js';
import { PublishedPorts } from '../../src/libnetwork/published-ports.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const KNOWN = 'k'.repeat(64);
const FLOOD = 10_000;
const port = { id: 'port-1', network_id: 'net-1', fixed_ips: [{ subnet_id: 's', ip_address: '10.0.0.5' }], security_groups: [], tags: [] } as unknown as Port;

/** Drivers' context with one known endpoint; any Neutron call fails the test (none is needed here). */
function context(): DriverContext {
  const neutron = new Proxy({}, { get: (_t, name) => () => assert.fail(`unexpected Neutron call ${String(name)}`) });
  const state = { endpointPort: async (id: string) => (id === KNOWN ? port : undefined), settled: async () => undefined, updatePort: () => undefined };
  const config = { processExternalConnectivity: true, portForwarding: { floatingIp: '' } };
  return { neutron, state, config, logger: silentLogger } as unknown as DriverContext;
}

const randomEndpoint = () => randomBytes(32).toString('hex');
/** The entries each keeps, by endpoint ID (private: what the bound is about). */
const entries = (x: ExposedPorts | PublishedPorts) => (x instanceof ExposedPorts ? x['programmed'] : x['programmed']).size;

for (const [what, make, option] of [
  ['exposed ports', (ctx: DriverContext) => new ExposedPorts(ctx), OPT_EXPOSED_PORTS],
  ['published ports', (ctx: DriverContext) => new PublishedPorts(ctx), OPT_PORT_MAP],
] as const) {
  test(`${what}: ${FLOOD} requests for unknown endpoints leave no entry`, async () => {
    const x = make(context());
    for (let i = 0; i < FLOOD; i++) {
      await x.program({ NetworkID: randomEndpoint(), EndpointID: randomEndpoint(), Options: {} });
      await x.revoke({ NetworkID: randomEndpoint(), EndpointID: randomEndpoint() });
    }
    assert.equal(entries(x), 0);
    await assert.rejects(
      x.program({ NetworkID: randomEndpoint(), EndpointID: randomEndpoint(), Options: { [option]: [{ Proto: 6, Port: 80 }] } }),
      (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_NOT_FOUND' && /has no Neutron port/.test(e.message),
    );
    assert.equal(entries(x), 0, 'a refused request leaves nothing either');
  });

  test(`${what}: a known endpoint's entry goes with it (revoke, or DeleteEndpoint without a revoke)`, async () => {
    const x = make(context());
    await x.program({ NetworkID: 'n', EndpointID: KNOWN, Options: {} });
    assert.equal(entries(x), 1);
    await x.revoke({ NetworkID: 'n', EndpointID: KNOWN });
    assert.equal(entries(x), 0);
    await x.program({ NetworkID: 'n', EndpointID: KNOWN, Options: {} });
    x.forget(KNOWN);
    assert.equal(entries(x), 0);
  });
}
