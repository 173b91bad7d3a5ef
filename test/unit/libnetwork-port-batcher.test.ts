import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortCreateBatcher } from '../../src/libnetwork/port-batcher.js';
import { NeutronError } from '../../src/openstack/errors.js';
import type { Neutron, Port } from '../../src/openstack/neutron-types.js';

function neutronWith(bulk: (bodies: Partial<Port>[]) => Promise<Port[]>, single: (b: Partial<Port>) => Promise<Port>) {
  const calls: string[] = [];
  const neutron = {
    createPorts: (b: Partial<Port>[]) => (calls.push(`bulk ${b.length}`), bulk(b)),
    createPort: (b: Partial<Port>) => (calls.push('single'), single(b)),
  } as unknown as Neutron;
  return { neutron, calls };
}

const port = (b: Partial<Port>, i = 0) => ({ id: `p-${b.name ?? i}` }) as Port;

test('creates arriving together become one bulk request, each caller getting its own port', async () => {
  const { neutron, calls } = neutronWith(async (bodies) => bodies.map((b) => port(b)), async (b) => port(b));
  const batcher = new PortCreateBatcher(neutron);
  const ports = await Promise.all(['a', 'b', 'c'].map((name) => batcher.create({ name })));
  assert.deepEqual(ports.map((p) => p.id), ['p-a', 'p-b', 'p-c']);
  assert.deepEqual(calls, ['bulk 3']);
});

test('a refused bulk is retried one by one, so only the bad create fails', async () => {
  const refusal = new NeutronError({ method: 'POST', path: '/v2.0/ports', httpStatus: 409, type: 'IpAddressAlreadyAllocated' });
  const { neutron, calls } = neutronWith(
    async () => { throw refusal; },
    async (b) => { if (b.name === 'bad') throw refusal; return port(b); },
  );
  const batcher = new PortCreateBatcher(neutron);
  const results = await Promise.allSettled(['a', 'bad', 'c'].map((name) => batcher.create({ name })));
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual(calls, ['bulk 3', 'single', 'single', 'single']);
});

test('a bulk that timed out is not retried: it may have been created', async () => {
  const timeout = new NeutronError({ method: 'POST', path: '/v2.0/ports', transport: 'timeout', timedOut: true });
  const { neutron, calls } = neutronWith(async () => { throw timeout; }, async (b) => port(b));
  const batcher = new PortCreateBatcher(neutron);
  const results = await Promise.allSettled(['a', 'b'].map((name) => batcher.create({ name })));
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.deepEqual(calls, ['bulk 2']);
});
