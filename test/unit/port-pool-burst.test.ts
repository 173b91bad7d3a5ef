/**
 * A burst of takers on a dry pool, against a Neutron whose bulk creates answer only when the test
 * lets them: each taker is served as soon as a batch with a port for it lands, not when the whole
 * fill for the burst is done (on a loaded Neutron several batches outlast Docker's deadline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { PortPools } from '../../src/libnetwork/port-pool.js';
import type { Neutron, Port, Subnet } from '../../src/openstack/neutron-types.js';

const NETWORK = 'net-1';
const SUBNET = { id: 'subnet-1', network_id: NETWORK, cidr: '10.60.0.0/24', ip_version: 4 } as Subnet;

/** A Neutron whose bulk creates wait in line until `answerNext` answers the oldest. */
function gatedNeutron() {
  const pending: (() => void)[] = [];
  let made = 0;
  const neutron = {
    async createPorts(bodies: Partial<Port>[]): Promise<Port[]> {
      await new Promise<void>((answer) => pending.push(answer));
      return bodies.map((b) => {
        made++;
        return { ...b, id: `port-${made}`, fixed_ips: [{ subnet_id: SUBNET.id, ip_address: `10.60.0.${made + 1}` }], security_groups: [], tags: b.tags ?? [], device_id: '' } as unknown as Port;
      });
    },
    async listPorts(): Promise<Port[]> {
      return [];
    },
    async deletePorts(): Promise<void> {},
  };
  return {
    neutron: neutron as unknown as Neutron,
    creates: () => pending.length,
    answerNext: () => pending.shift()!(),
  };
}

const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('a burst on a dry pool is served batch by batch: the first takers get ports while the next batch is still being made', async () => {
  const neutron = gatedNeutron();
  const pools = new PortPools(neutron.neutron, { enabled: true, min: 0, max: 0, batch: 2, updateFrequency: 3600 }, 'host-a', silentLogger, { linkExists: async () => false });
  pools.enable(NETWORK, [SUBNET], 0);
  await turns(); // the pool is dry and idle: minimum 0, nobody waiting
  const served: string[] = [];
  const takers = Array.from({ length: 5 }, () => pools.take(NETWORK, SUBNET.id).then((p) => (served.push(p?.id ?? 'none'), p)));
  await turns();
  assert.equal(neutron.creates(), 1, 'one bulk create at a time');

  neutron.answerNext();
  await turns();
  assert.equal(served.length, 2, 'the first batch (2 ports) served two takers at once');
  assert.equal(neutron.creates(), 1, 'the next batch is on its way for the others');

  neutron.answerNext();
  await turns();
  assert.equal(served.length, 4);
  neutron.answerNext();
  const ports = await Promise.all(takers);
  assert.equal(new Set(ports.map((p) => p?.id)).size, 5, `five takers, five distinct ports: ${served.join(', ')}`);
  pools.stop();
});

test('takers that join a refill sized before they came are served by the next one, not sent away', async () => {
  const neutron = gatedNeutron();
  const pools = new PortPools(neutron.neutron, { enabled: true, min: 0, max: 0, batch: 2, updateFrequency: 3600 }, 'host-a', silentLogger, { linkExists: async () => false });
  pools.enable(NETWORK, [SUBNET], 0); // its fill, sized for nobody, is ending as the takers come
  const takers = [pools.take(NETWORK, SUBNET.id), pools.take(NETWORK, SUBNET.id)];
  await turns();
  neutron.answerNext();
  const ports = await Promise.all(takers);
  assert.deepEqual(ports.map((p) => p?.id).sort(), ['port-1', 'port-2']);
  pools.stop();
});

test('a taker whose refill fails gets no port and creates its own, as without pools', async () => {
  const pools = new PortPools({
    createPorts: async () => {
      throw new Error('neutron down');
    },
    listPorts: async () => [],
    deletePorts: async () => undefined,
  } as unknown as Neutron, { enabled: true, min: 0, max: 0, batch: 2, updateFrequency: 3600 }, 'host-a', silentLogger, { linkExists: async () => false });
  pools.enable(NETWORK, [SUBNET], 0);
  assert.equal(await pools.take(NETWORK, SUBNET.id), undefined);
  pools.stop();
});
