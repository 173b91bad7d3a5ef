import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DRIVER, IMAGE, docker, eventually, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import type { Port } from '../../src/openstack/neutron-types.js';

/** What Neutron's dns-integration adds to a port. */
type DnsPort = Port & { dns_assignment?: { hostname: string; ip_address: string; fqdn: string }[] };

const suffix = uniq();
const NET = `kt-dns-${suffix}`;
const CIDR = await freeCidr(4);
const WEB = `web-${suffix}`;
const API = `api-${suffix}`;

/** The container's port, once CreateEndpoint's background bookkeeping has recorded the endpoint on it. */
async function portOf(container: string): Promise<Port> {
  const endpointId = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, container);
  return eventually(`a Neutron port with device_id ${endpointId}`, async () => (await neutron.listPorts({ device_id: endpointId }))[0], 20_000, 250);
}

/** The port once Neutron holds the expected DNS name (set in the background after the container starts). */
function named(port: Port, dnsName: string): Promise<DnsPort> {
  return eventually(`port ${port.id} dns_name ${dnsName}`, async () => {
    const current = (await neutron.getPort(port.id)) as DnsPort;
    return current.dns_name === dnsName ? current : undefined;
  }, 40_000, 500);
}

describe('DNS by port name', () => {
  before(async () => {
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', CIDR, NET);
  });
  after(async () => {
    await removeQuietly('container', WEB, API);
    await removeQuietly('network', NET);
  });

  test("a container's port takes its name as dns_name, and Neutron's dns_assignment carries it", async () => {
    await docker('run', '-d', '--name', WEB, '--net', NET, IMAGE, 'sleep', '600');
    const port = await named(await portOf(WEB), WEB);
    const ip = port.fixed_ips[0]!.ip_address;
    assert.ok(
      port.dns_assignment?.some((a) => a.hostname === WEB && a.ip_address === ip),
      `dns_assignment ${JSON.stringify(port.dns_assignment)} names ${WEB} at ${ip}`,
    );
  });

  test('a host name chosen with --hostname wins over the container name', async () => {
    await docker('run', '-d', '--name', API, '--hostname', `Backend-${suffix}`, '--net', NET, IMAGE, 'sleep', '600');
    await named(await portOf(API), `backend-${suffix}`);
  });
});
