/**
 * `[DEFAULT] process_external_connectivity = False`: published ports (`-p`) are refused with an error
 * naming the option, before any Neutron call; exposed-only ports (EXPOSE, no `-p`) still pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KuryrError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { OPT_EXPOSED_PORTS, OPT_PORT_MAP } from '../../src/libnetwork/api.js';
import type { DriverContext } from '../../src/libnetwork/context.js';
import { ExposedPorts } from '../../src/libnetwork/exposed-ports.js';
import { PublishedPorts } from '../../src/libnetwork/published-ports.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const ENDPOINT = 'e'.repeat(64);
const port = { id: 'port-1', network_id: 'net-1', fixed_ips: [{ subnet_id: 's', ip_address: '10.0.0.5' }], security_groups: [], tags: [] } as unknown as Port;

/** The option off, a floating IP configured (so only the option can be why `-p` is refused); any Neutron call fails the test. */
function context(): DriverContext {
  const neutron = new Proxy({}, { get: (_t, name) => () => assert.fail(`unexpected Neutron call ${String(name)}`) });
  const state = { endpointPort: async () => port, settled: async () => undefined, updatePort: () => undefined };
  const config = { processExternalConnectivity: false, portForwarding: { floatingIp: '172.24.4.10' } };
  return { neutron, state, config, logger: silentLogger } as unknown as DriverContext;
}

test('process_external_connectivity = False: -p is refused with an error naming the option, and Neutron is not called', async () => {
  const published = new PublishedPorts(context());
  await assert.rejects(
    published.program({ NetworkID: 'n', EndpointID: ENDPOINT, Options: { [OPT_PORT_MAP]: [{ Proto: 6, Port: 80, HostPort: 8080 }, { Proto: 17, Port: 53 }] } }),
    (e: unknown) =>
      e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && /process_external_connectivity = True/.test(e.message) && /8080:80\/tcp, 53:53\/udp/.test(e.message),
  );
});

test('process_external_connectivity = False: a container that publishes nothing, or only EXPOSEs ports, is accepted', async () => {
  const ctx = context();
  const exposedOnly = { NetworkID: 'n', EndpointID: ENDPOINT, Options: { [OPT_EXPOSED_PORTS]: [{ Proto: 6, Port: 80 }], [OPT_PORT_MAP]: [] } };
  assert.deepEqual(await new PublishedPorts(ctx).program(exposedOnly), {});
  assert.deepEqual(await new ExposedPorts(ctx).program(exposedOnly), {});
  assert.deepEqual(await new PublishedPorts(ctx).program({ NetworkID: 'n', EndpointID: ENDPOINT, Options: {} }), {});
});
