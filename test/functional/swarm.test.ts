/**
 * Multi-host on Docker Swarm (issue 11 §2): two Docker hosts (simulated Nova VMs with their own
 * dockerds, swarm-hosts.ts) in one swarm, their Swarm traffic crossing the Linux bridge agent's
 * dataplane. First Docker's own overlay network proves the two hosts form a working swarm, so a
 * failure of the Kuryr tests after it is Kuryr's.
 *
 * Then Kuryr as Swarm can use it: the managed plugin (scripts/build-plugin.sh) enabled on both
 * hosts, each with its own kuryr.conf (nested mode on the VM's eth0, global scope), a swarm-scoped
 * network of the plugin created on the manager, and a service whose tasks land on both hosts. What
 * an operator checks: every task has a Kuryr port on the VMs' Neutron network, holding its address
 * and MAC, with its pair on the VM port of the host that runs it; tasks reach each other across
 * hosts; scaling down frees the ports; removing the service and the network leaves nothing of
 * Kuryr's in Neutron.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { config, IMAGE, eventually, neutron, uniq } from './harness.js';
import { PLUGIN, SwarmHosts, type SwarmNode, type TaskContainer } from './swarm-hosts.js';
import { DEVICE_OWNER, NET_TAG_LOW, SUBNETPOOL_OWNED_TAG, SWARM_ALLOCATED_TAG, subnetPoolName, vmPortTag } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();

async function pingsAcross(from: TaskContainer, to: TaskContainer): Promise<boolean> {
  try {
    await from.node.docker('exec', from.id, 'ping', '-c', '1', '-W', '2', to.ip);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pings between every two tasks on different hosts, each retried for up to a minute: the Linux
 * bridge agent lets a new container's traffic through its VM's tap a few seconds after Kuryr adds
 * the container's pair. 'manager 10.0.0.5 -> worker 10.0.0.7: answered after 3 s' or '…: lost'.
 */
async function crossHostPings(tasks: TaskContainer[]): Promise<string[]> {
  const pairs = tasks.flatMap((a) => tasks.filter((b) => b.node !== a.node).map((b) => [a, b] as const));
  const started = Date.now();
  return Promise.all(pairs.map(async ([a, b]) => {
    const answered = await eventually(`${a.ip} reaching ${b.ip}`, async () => ((await pingsAcross(a, b)) ? true : undefined), 60_000, 500).catch(() => false);
    return `${a.node.role} ${a.ip} -> ${b.node.role} ${b.ip}: ${answered ? `answered after ${Math.round((Date.now() - started) / 1000)} s` : 'lost'}`;
  }));
}

/** The processes of a managed plugin: those whose cgroup path names the plugin's ID. */
function pluginPids(pluginId: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(pluginId);
    } catch {
      return false; // exited meanwhile
    }
  });
}

/** Kuryr's ports on the hosts' Neutron network. */
function kuryrPorts(networkId: string): Promise<Port[]> {
  return neutron.listPorts({ network_id: networkId, device_owner: DEVICE_OWNER });
}

/** Why this machine cannot run the tests (a kernel without vxlan or macvlan devices), probed in a host; or ''. */
async function unsupported(node: SwarmNode): Promise<string> {
  for (const kind of [['vxlan', 'id', '42', 'dstport', '4789'], ['macvlan', 'mode', 'bridge']] as const) {
    const args = kind[0] === 'macvlan' ? ['link', 'eth0'] : [];
    try {
      await node.vm.exec(['ip', 'link', 'add', ...args, 'name', 'ktprobe', 'type', ...kind]);
      await node.vm.exec(['ip', 'link', 'del', 'ktprobe']);
    } catch (err) {
      const text = (err as Error).message;
      if (!/Unknown device type|not supported/i.test(text)) throw err;
      return `this kernel has no ${kind[0]} devices (Swarm's overlay needs vxlan, nested Kuryr macvlan): ${text.trim().split('\n').pop()}`;
    }
  }
  return '';
}

describe('two Docker hosts (Nova VMs) in one swarm', () => {
  let hosts: SwarmHosts | undefined;
  let why = '';
  const figures: string[] = [];
  const skipped = (t: TestContext) => {
    if (why) t.skip(why);
    return why !== '';
  };

  before(async () => {
    hosts = await SwarmHosts.create(`kt-swarm-${suffix}`);
    why = await unsupported(hosts.manager);
  });

  after(async () => {
    const leftovers = await hosts?.destroy();
    for (const [what, ms] of Object.entries(hosts?.timings ?? {})) console.log(`# swarm figure: ${what}: ${ms} ms`);
    for (const line of figures) console.log(`# swarm figure: ${line}`);
    assert.deepEqual(leftovers ?? [], [], 'the hosts and their network are removed');
  });

  test('Docker\'s overlay network: 4 replicas spread over both hosts reach each other across hosts', async (t) => {
    if (skipped(t)) return;
    const h = hosts!;
    const net = `kt-swarm-ov-${suffix}`;
    const service = `kt-swarm-ovs-${suffix}`;
    await h.manager.docker('network', 'create', '-d', 'overlay', '--attachable', net);
    try {
      const started = Date.now();
      await h.manager.docker('service', 'create', '-d', '--no-resolve-image', '--name', service, '--replicas', '4', '--network', net, IMAGE, 'sleep', '86400');
      const tasks = await h.untilRunning(service, net, 4);
      figures.push(`overlay: 4 tasks running ${Date.now() - started} ms after service create (${tasks.map((t) => t.node.role).join(', ')})`);
      const results = await crossHostPings(tasks);
      figures.push(...results.map((r) => `overlay ping ${r}`));
      assert.ok(results.every((r) => r.includes(': answered')), results.join('\n'));
    } finally {
      await h.manager.docker('service', 'rm', service).catch(() => undefined);
      await eventually(`overlay ${net} removed`, () => h.manager.docker('network', 'rm', net).then(() => true), 60_000, 1000).catch(() => undefined);
    }
  });

  describe('Kuryr\'s managed plugin on both hosts', () => {
    const net = `kt-swarm-net-${suffix}`;
    const service = `kt-swarm-svc-${suffix}`;

    before(async () => {
      if (why) return;
      await hosts!.installPlugin();
    });

    after(async () => {
      // After a failure midway; destroy() removes the rest with the hosts.
      await hosts?.manager.docker('service', 'rm', service).catch(() => undefined);
      await hosts?.manager.docker('network', 'rm', net).catch(() => undefined);
    });

    test('each host\'s plugin runs in that host\'s network namespace and finds that VM\'s Neutron port', async (t) => {
      if (skipped(t)) return;
      for (const node of hosts!.nodes) {
        const id = await node.docker('plugin', 'inspect', '-f', '{{.Id}}', PLUGIN);
        assert.equal(await node.docker('plugin', 'inspect', '-f', '{{.Enabled}}', PLUGIN), 'true');
        assert.equal((await node.docker('plugin', 'inspect', '-f', '{{range .Settings.Mounts}}{{if eq .Name "config"}}{{.Source}}{{end}}{{end}}', PLUGIN)), node.configDir, `${node.role}: its own config directory`);
        // The plugin's stdout is in its dockerd's log, tagged plugin=<id>.
        const found = readFileSync(node.vm.dockerdLog, 'utf8').split('\n').filter((line) => line.includes(`plugin=${id}`) && line.includes('containers in this VM use its Neutron port'));
        assert.equal(found.length, 1, `${node.role}: the plugin started once in nested mode (dockerd log ${node.vm.dockerdLog})`);
        assert.ok(found[0]!.includes(node.vm.port.id), `${node.role}: it found its VM's port ${node.vm.port.id} by eth0's MAC: ${found[0]}`);
        const pids = pluginPids(id);
        assert.equal(pids.length, 1, `${node.role}: one process in the plugin's cgroup`);
        assert.equal(statSync(`/proc/${pids[0]}/ns/net`).ino, statSync(`/run/netns/${node.vm.ns}`).ino, `${node.role}: the plugin's network namespace is the VM's`);
      }
    });

    test('a swarm-scoped network on the manager and a service of 4 replicas: tasks on both hosts have Kuryr ports on the VMs\' Neutron network, with their pairs on their own VM\'s port, and reach each other across hosts', async (t) => {
      if (skipped(t)) return;
      const h = hosts!;
      const { network, subnet } = h.network;
      // The VMs' subnet, named to Kuryr's network driver (-o) and IPAM (--ipam-opt): Swarm's manager
      // allocates addresses before any host creates the network, from the pool RequestPool tied to it.
      await h.manager.docker('network', 'create', '--driver', PLUGIN, '--ipam-driver', PLUGIN, '--scope', 'swarm', '--attachable', '--subnet', subnet.cidr,
        '-o', `neutron.subnet.name=${subnet.name}`, '--ipam-opt', `neutron.subnet.name=${subnet.name}`, net);
      // The manager's inspect shows the driver once its allocator has taken the network (pool, gateway, AllocateNetwork).
      await eventually(`${net} allocated by the swarm manager with Kuryr`, async () => ((await h.manager.docker('network', 'inspect', '-f', '{{.Scope}} {{.Driver}} {{range .IPAM.Config}}{{.Gateway}}{{end}}', net)) === `swarm ${PLUGIN} ${subnet.gateway_ip}` ? true : undefined), 30_000, 200);
      const started = Date.now();
      await h.manager.docker('service', 'create', '-d', '--no-resolve-image', '--name', service, '--replicas', '4', '--network', net, IMAGE, 'sleep', '86400');
      const tasks = await h.untilRunning(service, net, 4);
      figures.push(`kuryr: 4 tasks running ${Date.now() - started} ms after service create (${tasks.map((task) => task.node.role).join(', ')})`);

      const ports = await kuryrPorts(network.id);
      const vip = await h.manager.docker('service', 'inspect', '-f', `{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}`, service);
      figures.push(`kuryr: Kuryr ports on the VMs' network with 4 tasks: ${ports.length} (service VIP ${vip || 'none'})`);
      for (const task of tasks) {
        const held = ports.filter((p) => p.fixed_ips.some((f) => f.ip_address === task.ip));
        assert.equal(held.length, 1, `one Kuryr port holds ${task.ip} (task on the ${task.node.role})`);
        const port = held[0]!;
        assert.equal(port.mac_address, task.mac, 'with the task\'s MAC');
        assert.equal(port.fixed_ips[0]!.subnet_id, subnet.id, 'on the VMs\' subnet');
        assert.ok(port.tags.includes(vmPortTag(task.node.vm.port.id)), `tagged with the VM port of the ${task.node.role}, which runs it`);
        const pairs = (await task.node.vm.refresh()).allowed_address_pairs ?? [];
        assert.ok(pairs.some((p) => p.ip_address === task.ip && p.mac_address === task.mac), `the ${task.node.role}'s VM port holds the task's pair`);
      }
      const taskIps = new Set(tasks.map((task) => task.ip));
      const others = ports.filter((p) => !p.fixed_ips.some((f) => taskIps.has(f.ip_address)));
      assert.deepEqual(others.map((p) => p.fixed_ips[0]!.ip_address), vip ? [vip.split('/')[0]] : [], 'besides the tasks\', only the service VIP\'s port');

      const results = await crossHostPings(tasks);
      figures.push(...results.map((r) => `kuryr ping ${r}`));
      assert.equal(results.length, 8);
      assert.ok(results.every((r) => r.includes(': answered')), results.join('\n'));
    });

    test('scaling the service to 2 frees the removed tasks\' ports and pairs in Neutron', async (t) => {
      if (skipped(t)) return;
      const h = hosts!;
      const before = await h.taskContainers(service, net);
      await h.manager.docker('service', 'scale', '-d', `${service}=2`);
      const kept = await h.untilRunning(service, net, 2);
      const gone = before.filter((task) => !kept.some((k) => k.id === task.id));
      assert.equal(gone.length, 2);
      const ports = await eventually('the removed tasks\' ports deleted', async () => {
        const now = await kuryrPorts(h.network.network.id);
        return gone.some((task) => now.some((p) => p.fixed_ips.some((f) => f.ip_address === task.ip))) ? undefined : now;
      }, 60_000, 500);
      figures.push(`kuryr: Kuryr ports after scaling to 2: ${ports.length}`);
      for (const task of kept) assert.ok(ports.some((p) => p.fixed_ips.some((f) => f.ip_address === task.ip)), `the port of ${task.ip} stays`);
      for (const node of h.nodes) {
        const pairs = ((await node.vm.refresh()).allowed_address_pairs ?? []).map((p) => p.ip_address).sort();
        assert.deepEqual(pairs, kept.filter((task) => task.node === node).map((task) => task.ip).sort(), `the ${node.role}'s VM port holds exactly its remaining tasks' pairs`);
      }
      const results = await crossHostPings(kept);
      assert.ok(results.every((r) => r.includes(': answered')), results.join('\n'));
    });

    test('service rm and network rm on the manager leave nothing of Kuryr\'s in Neutron', async (t) => {
      if (skipped(t)) return;
      const h = hosts!;
      const { network, subnet } = h.network;
      await h.manager.docker('service', 'rm', service);
      // Docker refuses to remove a network while the service's tasks are still being taken down.
      await eventually(`network ${net} removed`, () => h.manager.docker('network', 'rm', net).then(() => true), 60_000, 1000);
      await eventually('no Kuryr port, no Docker network tag, no Kuryr pool', async () => {
        const ports = await kuryrPorts(network.id);
        const tags = (await neutron.getNetwork(network.id)).tags.filter((tag) => tag.startsWith(NET_TAG_LOW) || tag.startsWith('kuryr.'));
        const pools = await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, subnet.cidr), tags: SUBNETPOOL_OWNED_TAG });
        return ports.length === 0 && tags.length === 0 && pools.length === 0 ? true : undefined;
      }, 60_000, 1000);
      assert.deepEqual((await neutron.getSubnet(subnet.id)).tags, [], 'the VMs\' subnet carries no pool tag');
      for (const node of h.nodes) assert.deepEqual((await node.vm.refresh()).allowed_address_pairs ?? [], [], `no pair is left on the ${node.role}'s VM port`);
    });
    test('a swarm network whose subnet Kuryr makes: the manager\'s allocation makes it on the VMs\' network from their subnet pool, tasks on both hosts reach each other, it outlives the hosts letting go while the network exists, and network rm on the manager removes it', async (t) => {
      if (skipped(t)) return;
      const h = hosts!;
      const own = `kt-swarm-own-${suffix}`;
      const services = [`kt-swarm-own1-${suffix}`, `kt-swarm-own2-${suffix}`];
      // Neutron allocates a network's subnets from one pool (or none): on the VMs' network, Kuryr's
      // subnet comes from the pool of theirs, named to IPAM and to the network driver.
      const vmPool = h.network.pool!;
      const cidr = vmPool.prefixes.find((p) => p !== h.network.subnet.cidr)!;
      const vmNetwork = h.network.network.id;
      const subnetsOf = () => neutron.listSubnets({ network_id: vmNetwork, cidr });
      try {
        await h.manager.docker('network', 'create', '--driver', PLUGIN, '--ipam-driver', PLUGIN, '--scope', 'swarm', '--attachable', '--subnet', cidr,
          '--ipam-opt', `neutron.pool.name=${vmPool.name}`, '-o', `neutron.pool.name=${vmPool.name}`, own);
        const [subnet] = await eventually(`the manager's Kuryr made the subnet ${cidr} on the VMs' network`, async () => ((await subnetsOf()).length === 1 ? subnetsOf() : undefined), 30_000, 200);
        assert.ok((await neutron.getNetwork(vmNetwork)).tags.includes(SWARM_ALLOCATED_TAG), 'the VMs\' network carries the swarm\'s mark');

        for (const [round, service] of services.entries()) {
          const started = Date.now();
          await h.manager.docker('service', 'create', '-d', '--no-resolve-image', '--name', service, '--replicas', '2', '--network', own, IMAGE, 'sleep', '86400');
          const tasks = await h.untilRunning(service, own, 2);
          figures.push(`kuryr-made network, service ${round + 1}: 2 tasks running ${Date.now() - started} ms after service create`);
          const ports = (await kuryrPorts(vmNetwork)).filter((p) => p.fixed_ips[0]!.subnet_id === subnet!.id);
          for (const task of tasks) assert.ok(ports.some((p) => p.fixed_ips[0]!.ip_address === task.ip && p.mac_address === task.mac), `a Kuryr port on ${cidr} holds ${task.ip} (${task.node.role})`);
          const results = await crossHostPings(tasks);
          figures.push(...results.map((r) => `kuryr-made network ping ${r}`));
          assert.ok(results.every((r) => r.includes(': answered')), results.join('\n'));

          await h.manager.docker('service', 'rm', service);
          // Each host removes its copy of the network when its last task goes (DeleteNetwork, ReleasePool there).
          await eventually('the worker let go of the network and every port on the subnet is gone', async () => {
            const listed = await h.worker.docker('network', 'ls', '-q', '--filter', `name=${own}`);
            const left = (await kuryrPorts(vmNetwork)).filter((p) => p.fixed_ips[0]!.subnet_id === subnet!.id);
            return listed === '' && left.length === 0 ? true : undefined;
          }, 90_000, 1000);
          assert.deepEqual((await subnetsOf()).map((s) => s.id), [subnet!.id], 'the subnet stays while the swarm network exists');
        }

        await eventually(`network ${own} removed`, () => h.manager.docker('network', 'rm', own).then(() => true), 60_000, 1000);
        await eventually('no subnet, Kuryr pool, Docker network tag or swarm mark left; the VMs\' pool is unmarked', async () => {
          const tags = (await neutron.getNetwork(vmNetwork)).tags.filter((tag) => tag.startsWith(NET_TAG_LOW) || tag.startsWith('kuryr.'));
          const pools = await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr) });
          const [operatorPool] = await neutron.listSubnetPools({ id: vmPool.id });
          return (await subnetsOf()).length === 0 && pools.length === 0 && tags.length === 0 && operatorPool?.tags.length === 0 ? true : undefined;
        }, 60_000, 1000);
      } finally {
        for (const service of services) await h.manager.docker('service', 'rm', service).catch(() => undefined);
        await h.manager.docker('network', 'rm', own).catch(() => undefined);
      }
    });
  });
});
