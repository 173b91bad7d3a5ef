/**
 * The simulated Nova VM (nova-vm.ts) is a real dataplane: two VMs on one Neutron network reach each
 * other through the Linux bridge agent's bridge, and the agent's anti-spoofing guards the VM's port
 * exactly as nested Kuryr will rely on. A child device inside the VM with its own MAC and IP (what
 * nested Kuryr gives a container) is dropped until its `{ip_address, mac_address}` is in the VM port's
 * allowed_address_pairs, and dropped again once the pair is removed. The VM's own dockerd runs
 * containers, and the cloud's APIs are reachable from inside the VM only through its network.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { config, CONFIG_FILES, eventually, IMAGE, neutron, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { NovaVm, VM_TAG } from './nova-vm.js';
import type { AllowedAddressPair, Network, SecurityGroup } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const SRC = new URL('../../src/', import.meta.url).pathname;

/** A container's network namespace inside the VM, holding one child device of the VM's eth0. */
interface Child {
  ns: string;
  ip: string;
  mac: string;
}

/**
 * Makes a `kind` child of the VM's eth0 and moves it, as eth0, into a namespace of its own (as
 * Kuryr hands it to a container). Returns the kernel's refusal text when it lacks the device type.
 */
async function addChild(vm: NovaVm, kind: 'macvlan' | 'ipvlan', ip: string, prefixLength: number): Promise<Child | string> {
  const dev = `kc${uniq()}`;
  const mode = kind === 'macvlan' ? ['mode', 'bridge'] : ['mode', 'l2'];
  try {
    await vm.exec(['ip', 'link', 'add', 'link', 'eth0', 'name', dev, 'type', kind, ...mode]);
  } catch (err) {
    const text = (err as Error).message;
    if (/Unknown device type|not supported/i.test(text)) return text.trim().split('\n').pop()!;
    throw err;
  }
  const ns = `${vm.ns}-c${uniq()}`;
  await sh('ip', ['netns', 'add', ns]);
  await vm.exec(['ip', 'link', 'set', dev, 'netns', ns]);
  const inChild = (cmd: string[]) => sh('ip', ['netns', 'exec', ns, ...cmd]);
  // macvlan gets a MAC of its own (Kuryr gives it the container port's); ipvlan shares the VM's.
  if (kind === 'macvlan') await inChild(['ip', 'link', 'set', dev, 'address', `02:${uniq().match(/../g)!.join(':')}:00:01`]);
  await inChild(['ip', 'link', 'set', dev, 'name', 'eth0']);
  await inChild(['ip', 'addr', 'add', `${ip}/${prefixLength}`, 'dev', 'eth0']);
  await inChild(['ip', 'link', 'set', 'lo', 'up']);
  await inChild(['ip', 'link', 'set', 'eth0', 'up']);
  // ARP retried every 100 ms instead of 1 s, so a pair's effect is seen when it happens.
  await inChild(['sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=100']);
  const link = await inChild(['ip', '-o', 'link', 'show', 'eth0']);
  return { ns, ip, mac: /link\/ether ([0-9a-f:]+)/.exec(link)![1]! };
}

/** Resolves when `ns` gets its first ping answer from `ip` (pinging every 100 ms); throws after the timeout. */
async function firstReply(ns: string, ip: string, timeoutSeconds = 60): Promise<void> {
  await sh('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-i', '0.1', '-w', String(timeoutSeconds), ip], (timeoutSeconds + 5) * 1000);
}

describe('a simulated Nova VM on the real dataplane', () => {
  let network: Network;
  let group: SecurityGroup;
  let prefix = '';
  let prefixLength = 24;
  let vm: NovaVm;
  let peer: NovaVm;
  const figures: string[] = [];

  before(async () => {
    const cidr = await freeCidr(4);
    prefix = cidr.replace(/\.0\/24$/, '');
    prefixLength = Number(cidr.split('/')[1]);
    network = await neutron.createNetwork({ name: `kt-vm-net-${suffix}`, admin_state_up: true, tags: [VM_TAG] });
    // No DHCP (the VM's address is configured, as from a config drive); .200+ stays free for children.
    await neutron.createSubnet({
      name: `kt-vm-subnet-${suffix}`, network_id: network.id, ip_version: 4, cidr, gateway_ip: `${prefix}.1`, enable_dhcp: false,
      allocation_pools: [{ start: `${prefix}.2`, end: `${prefix}.199` }],
    } as never);
    // ICMP from anywhere: a drop seen below is then the anti-spoofing's, not the security group's.
    group = await neutron.createSecurityGroup({ name: `kt-vm-sg-${suffix}`, tags: [VM_TAG] });
    await neutron.createSecurityGroupRules([{ security_group_id: group.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' }]);
    [vm, peer] = await Promise.all([
      NovaVm.boot('vm', { network: network.id, securityGroups: [group.id] }),
      NovaVm.boot('peer', { network: network.id, securityGroups: [group.id] }),
    ]);
    figures.push(`boot (port created -> ACTIVE): vm ${vm.bootMs} ms, peer ${peer.bootMs} ms; tap up -> agent's bridge: ${vm.bridgeMs} / ${peer.bridgeMs} ms`);
  });

  after(async () => {
    await Promise.all([vm?.destroy(), peer?.destroy()].map((p) => p?.catch(() => undefined)));
    if (group) await neutron.deleteSecurityGroup(group.id).catch(() => undefined);
    if (network) await neutron.deleteNetwork(network.id).catch(() => undefined);
    for (const line of figures) console.log(`# nova-vm figure: ${line}`);
  });

  test('boot gives an ACTIVE compute:nova port bound to this host, tagged for the tests only, its tap in the agent\'s bridge, guarded by the agent\'s anti-spoofing', async () => {
    const port = await vm.refresh();
    assert.equal(port.status, 'ACTIVE');
    assert.equal(port.device_owner, 'compute:nova');
    assert.equal(port['binding:host_id'], config.hostname, 'bound to the agent\'s host');
    assert.deepEqual(port.tags, [VM_TAG], 'no Kuryr tag: the VM port is not Kuryr\'s object');
    assert.deepEqual(port.security_groups, [group.id]);
    assert.match(await sh('ip', ['-o', 'link', 'show', vm.tap]), new RegExp(`master ${vm.bridge} `));
    const inside = await vm.exec(['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(inside, new RegExp(`inet ${vm.ip.replaceAll('.', '\\.')}/${prefixLength} `));
    assert.match(await vm.exec(['ip', '-o', 'link', 'show', 'eth0']), new RegExp(`link/ether ${vm.mac} `));
    assert.deepEqual(await vm.spoofRules(), { macs: [vm.mac], arpIps: [vm.ip] }, 'the agent allows exactly the port\'s MAC and IP on the tap');
  });

  test('the two VMs ping each other through the bridge', async () => {
    assert.ok(await vm.pings(peer.ip, { count: 3 }), 'vm reaches peer');
    assert.ok(await peer.pings(vm.ip, { count: 3 }), 'peer reaches vm');
  });

  for (const kind of ['macvlan', 'ipvlan'] as const) {
    test(`a ${kind} child in the VM with its own address is dropped by the anti-spoofing, passes once its pair is in the VM port's allowed_address_pairs, and is dropped again when the pair is removed`, async (t) => {
      const child = await addChild(vm, kind, `${prefix}.${kind === 'macvlan' ? 240 : 241}`, prefixLength);
      if (typeof child === 'string') {
        t.skip(`this kernel has no ${kind} devices: ${child}`);
        return;
      }
      t.after(() => sh('ip', ['netns', 'del', child.ns]).catch(() => undefined));
      const pair: AllowedAddressPair = { ip_address: child.ip, mac_address: child.mac };
      const before = (await vm.refresh()).allowed_address_pairs ?? [];

      assert.equal(await vm.pings(peer.ip, { ns: child.ns, count: 3 }), false, 'without the pair the child does not reach the peer');
      assert.equal(await peer.pings(child.ip, { count: 3 }), false, 'without the pair the peer does not reach the child');
      assert.ok(await vm.pings(peer.ip), 'the VM\'s own traffic still passes');

      const added = Date.now();
      await neutron.updatePort(vm.port.id, { allowed_address_pairs: [...before, pair] });
      const apiMs = Date.now() - added;
      await eventually('the agent allowing the pair', async () => ((await vm.spoofRules()).arpIps.includes(child.ip) ? true : undefined), 60_000, 50);
      const rulesMs = Date.now() - added;
      await firstReply(child.ns, peer.ip);
      const passMs = Date.now() - added;
      assert.ok(await peer.pings(child.ip, { count: 3 }), 'with the pair the peer reaches the child');
      assert.ok((await vm.spoofRules()).macs.includes(child.mac), 'the agent allows the child\'s MAC on the VM\'s tap');
      figures.push(`${kind} pair added: API ${apiMs} ms, agent's ebtables rule ${rulesMs} ms, first ping answer ${passMs} ms after the update`);

      const removed = Date.now();
      await neutron.updatePort(vm.port.id, { allowed_address_pairs: before });
      await eventually('the child dropped again', async () => ((await vm.pings(peer.ip, { ns: child.ns, waitSeconds: 1 })) ? undefined : true), 60_000, 100);
      const dropMs = Date.now() - removed;
      assert.equal(await vm.pings(peer.ip, { ns: child.ns, count: 3 }), false, 'without the pair the child is dropped again');
      assert.deepEqual(await vm.spoofRules(), { macs: [vm.mac], arpIps: [vm.ip] }, 'the agent allows only the VM\'s own MAC and IP again');
      assert.ok(await vm.pings(peer.ip), 'the VM\'s own traffic still passes');
      figures.push(`${kind} pair removed: child dropped ${dropMs} ms after the update`);
      assert.deepEqual((await vm.refresh()).allowed_address_pairs ?? [], before, 'the VM port\'s pairs are as before');
    });
  }

  test('the VM\'s own dockerd runs in the VM\'s namespace, sees only the VM\'s plugins, and runs a container', async () => {
    await vm.startDockerd();
    figures.push(`VM dockerd start (spawn -> API answers): ${vm.dockerdMs} ms`);
    assert.equal(await sh('ip', ['netns', 'identify', String(vm.dockerdPid)]), vm.ns, 'dockerd is in the VM\'s network namespace');
    await vm.docker('run', '--rm', '--network', 'none', IMAGE, 'true');
    // The host's /run/docker/plugins holds the stack's kuryr.sock: the VM's dockerd must not see it.
    await assert.rejects(vm.docker('network', 'create', '-d', 'kuryr', `kt-vm-probe-${suffix}`), /plugin "kuryr" not found|plugin not found/);
  });

  test('inside the VM the cloud is reachable only through the VM\'s network: Kuryr\'s Neutron client, configured as a nested daemon, reads the VM\'s port', async () => {
    await assert.rejects(vm.exec(['curl', '-sf', '-m', '3', 'http://127.0.0.1:5000/v3']), 'the VM\'s loopback has no Keystone');
    const cloud = await vm.reachCloud();
    const override = `/tmp/kt-vm-cloud-${suffix}.conf`;
    writeFileSync(override, `[neutron]\nauth_url = ${cloud.authUrl}\nendpoint_override = ${cloud.neutronUrl}\n`);
    try {
      const files = [...CONFIG_FILES, override].flatMap((f) => ['--config-file', f]);
      const script = [
        `const { loadConfig } = await import('${SRC}config/index.js');`,
        `const { createOpenStackClients } = await import('${SRC}openstack/index.js');`,
        `const { silentLogger } = await import('${SRC}log.js');`,
        `const config = loadConfig(${JSON.stringify(files)}, {}, { allowUnknownArgs: true });`,
        `const port = await createOpenStackClients(config.neutron, silentLogger).neutron.getPort('${vm.port.id}');`,
        'console.log(port.mac_address);',
      ].join('\n');
      assert.equal(await vm.exec([process.execPath, '--input-type=module', '-e', script]), vm.mac);
    } finally {
      rmSync(override, { force: true });
    }
  });

  test('destroy removes dockerd, the namespace, the tap, the port and the relay', async () => {
    await Promise.all([vm.destroy(), peer.destroy()]);
    for (const v of [vm, peer]) assert.deepEqual(await v.leftovers(), { namespace: false, tap: false, port: false, dockerd: false }, v.ns);
    assert.deepEqual(await neutron.listPorts({ network_id: network.id, tags: VM_TAG }), [], 'no VM port is left on the network');
    const addresses = await sh('ip', ['-o', 'addr', 'show']);
    assert.ok(!addresses.includes(` ${prefix}.1/`), 'the gateway address the relay used is gone');
    await assert.rejects(sh('curl', ['-sf', '-m', '2', `http://${prefix}.1:5000/v3`]), 'nothing listens on the relay address any more');
  });
});
