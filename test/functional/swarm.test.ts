/**
 * Multi-host on Docker Swarm (issue 11 §2): two Docker hosts (simulated Nova VMs with their own
 * dockerds, swarm-hosts.ts) in one swarm, their Swarm traffic crossing the Linux bridge agent's
 * dataplane. First Docker's own overlay network proves the two hosts form a working swarm, so a
 * failure of the Kuryr tests below is Kuryr's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGE, uniq } from './harness.js';
import { SwarmHosts, type TaskContainer } from './swarm-hosts.js';

const suffix = uniq();

async function pingsAcross(from: TaskContainer, to: TaskContainer): Promise<boolean> {
  try {
    await from.node.docker('exec', from.id, 'ping', '-c', '1', '-W', '2', to.ip);
    return true;
  } catch {
    return false;
  }
}

describe('two Docker hosts (Nova VMs) in one swarm', () => {
  let hosts: SwarmHosts | undefined;
  const figures: string[] = [];

  before(async () => {
    hosts = await SwarmHosts.create(`kt-swarm-${suffix}`);
    for (const [what, ms] of Object.entries(hosts.timings)) figures.push(`${what}: ${ms} ms`);
  });

  after(async () => {
    const leftovers = await hosts?.destroy();
    for (const line of figures) console.log(`# swarm figure: ${line}`);
    assert.deepEqual(leftovers ?? [], [], 'the hosts and their network are removed');
  });

  test('Docker\'s overlay network: 4 replicas spread over both hosts reach each other across hosts', async () => {
    const h = hosts!;
    const net = `kt-swarm-ov-${suffix}`;
    const service = `kt-swarm-ovs-${suffix}`;
    await h.manager.docker('network', 'create', '-d', 'overlay', '--attachable', net);
    try {
      const started = Date.now();
      await h.manager.docker('service', 'create', '-d', '--name', service, '--replicas', '4', '--network', net, IMAGE, 'sleep', '86400');
      const tasks = await h.untilRunning(service, net, 4);
      figures.push(`overlay: 4 tasks running ${Date.now() - started} ms after service create (${tasks.map((t) => t.node.role).join(', ')})`);
      const cross = tasks.flatMap((a) => tasks.filter((b) => b.node !== a.node).map((b) => [a, b] as const));
      const results = await Promise.all(cross.map(async ([a, b]) => `${a.node.role} ${a.ip} -> ${b.node.role} ${b.ip}: ${(await pingsAcross(a, b)) ? 'answered' : 'lost'}`));
      figures.push(...results.map((r) => `overlay ping ${r}`));
      assert.ok(results.every((r) => r.endsWith('answered')), results.join('\n'));
    } finally {
      await h.manager.docker('service', 'rm', service).catch(() => undefined);
      await h.manager.docker('network', 'rm', net).catch(() => undefined);
    }
  });
});
