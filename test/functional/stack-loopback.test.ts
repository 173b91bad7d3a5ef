/**
 * The dev stack is reachable from this machine only: every TCP and UDP socket a stack service
 * listens on is bound to a loopback address (MariaDB, RabbitMQ's AMQP and Erlang distribution
 * ports, epmd, Keystone, neutron-server, the agent, dockerd, Kuryr). The one socket no service can
 * bind, the kernel's VXLAN socket, is fenced off by stack.sh's firewall rule.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DRIVER, IMAGE, docker, removeQuietly, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';

interface Listener {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  /** Processes holding the socket (none: a kernel socket, or one of a process outside this PID namespace). */
  owners: { name: string; pid: number; cmdline: string }[];
}

/** Command lines of the stack's services, as scripts/stack.sh starts them (and what they start). */
const STACK_PROCESS =
  /\b(mariadbd|beam\.smp|epmd|erl_child_setup|inet_gethost|rabbitmq|uwsgi|keystone|neutron-server|neutron-linuxbridge-agent|neutron-rootwrap|dnsmasq|dockerd|containerd|docker-proxy)\b/;
/**
 * The stack's Kuryr daemon, by its pid file: other kuryr-server processes (tests' private daemons,
 * developers' dev-daemon.sh) are not the stack's and are configured by whoever started them.
 */
const STACK_KURYR_PID = Number(readFileSync('/run/kuryr/kuryr-server.pid', 'utf8').trim());

/** The stack's well-known ports: each must be found listening, so the check below is not vacuous. */
const EXPECTED = { mariadb: 3306, amqp: 5672, erlangDistribution: 25672, epmd: 4369, keystone: 5000, neutron: 9696, kuryrMetrics: 9723 };

/** stack.sh's rule (scripts/stack.sh guard_vxlan_port) for the kernel's VXLAN socket. */
const VXLAN_PORT = 8472;
const VXLAN_GUARD = ['-p', 'udp', '--dport', String(VXLAN_PORT), '!', '-i', 'lo', '-m', 'comment', '--comment', 'kuryr-stack-vxlan-loopback-only', '-j', 'DROP'];

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** `127.0.0.1:5000`, `[::1]:4369`, `*:8472`, `127.0.0.53%lo:53` -> address and port. */
function splitAddress(local: string): { address: string; port: number } {
  const i = local.lastIndexOf(':');
  const address = local.slice(0, i).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return { address, port: Number(local.slice(i + 1)) };
}

async function listeners(): Promise<Listener[]> {
  const out: Listener[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const text = await sh('ss', ['-H', '-l', '-n', '-p', proto === 'tcp' ? '-t' : '-u']);
    for (const line of text.split('\n').filter(Boolean)) {
      const cols = line.trim().split(/\s+/);
      const { address, port } = splitAddress(cols[3] ?? '');
      const owners = [...line.matchAll(/\("([^"]*)",pid=(\d+),/g)].map((m) => ({ name: m[1]!, pid: Number(m[2]), cmdline: cmdlineOf(Number(m[2])) }));
      out.push({ proto, address, port, owners });
    }
  }
  return out;
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

const describe = (l: Listener) => `${l.proto} ${l.address}:${l.port} (${l.owners.map((o) => `${o.name}[${o.pid}]`).join(', ') || 'no process'})`;

const net = `bnd-lo-${uniq()}`;
const ctr = `bnd-lo-c-${uniq()}`;
after(() => removeQuietly('container', ctr).then(() => removeQuietly('network', net)));

test('every socket a stack service listens on is bound to loopback; the kernel VXLAN socket is fenced off', async () => {
  // A container on a Kuryr network: the agent then wires a VXLAN device, whose kernel socket listens too.
  await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), net);
  await docker('run', '-d', '--name', ctr, '--net', net, IMAGE, 'sleep', '600');
  const deadline = Date.now() + 60_000;
  let all = await listeners();
  while (!all.some((l) => l.proto === 'udp' && l.port === VXLAN_PORT) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    all = await listeners();
  }

  const stack = all.filter((l) => l.owners.some((o) => o.pid === STACK_KURYR_PID || STACK_PROCESS.test(o.cmdline) || STACK_PROCESS.test(o.name)));
  const foreign = all.filter((l) => l.owners.length > 0 && !stack.includes(l));
  const ownerless = all.filter((l) => l.owners.length === 0);
  console.log(`stack listeners:\n  ${stack.map(describe).join('\n  ')}`);
  // Not the stack's: processes stack.sh did not start (sshd, the session's own tooling...).
  console.log(`ignored, not started by stack.sh:\n  ${foreign.map((l) => `${describe(l)} ${l.owners[0]?.cmdline.slice(0, 80)}`).join('\n  ') || '(none)'}`);

  for (const [what, port] of Object.entries(EXPECTED)) {
    assert.ok(stack.some((l) => l.proto === 'tcp' && l.port === port), `${what} (tcp ${port}) is listening: ${stack.map(describe).join('; ')}`);
  }
  const exposed = stack.filter((l) => !isLoopback(l.address));
  assert.deepEqual(exposed.map(describe), [], 'stack services listening beyond loopback');

  // Sockets no process owns: the kernel's VXLAN socket is bound to every address (Linux cannot bind
  // it to the device's local 127.0.0.1), so stack.sh drops what reaches it other than over loopback.
  const vxlan = ownerless.filter((l) => l.proto === 'udp' && l.port === VXLAN_PORT);
  assert.ok(vxlan.length > 0, `the VXLAN socket of ${net} is listening (udp ${VXLAN_PORT})`);
  for (const ipt of ['iptables', 'ip6tables']) {
    await sh(ipt, ['-C', 'INPUT', ...VXLAN_GUARD]).catch(() => assert.fail(`${ipt}: no rule dropping udp ${VXLAN_PORT} from off loopback (stack.sh guard_vxlan_port)`));
  }
  // Any other ownerless socket belongs to no process of this machine's PID namespace, where stack.sh
  // starts every service: e.g. the listener of the environment running these tests. Named, not judged.
  const unowned = ownerless.filter((l) => !vxlan.includes(l));
  console.log(`ignored, owned by no process here:\n  ${unowned.map(describe).join('\n  ') || '(none)'}`);
  assert.ok(!unowned.some((l) => Object.values(EXPECTED).includes(l.port)), 'no stack port is among them');
});
