/**
 * The capabilities packaging/systemd/kuryr-libnetwork.service gives kuryr-server are enough to serve
 * containers. No systemd runs here, so the unit's CapabilityBoundingSet, AmbientCapabilities and
 * NoNewPrivileges are applied by setpriv to a daemon of the test's own (root, as in the unit): its
 * process holds only those capabilities, and Docker containers on its network get their Neutron
 * ports and reach each other. (ProtectSystem and the other mount sandboxing need systemd itself.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { containerInterface, docker, IMAGE, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { serviceSection } from '../unit/systemd-unit-file.js';

const service = serviceSection('kuryr-libnetwork.service');
const only = (key: string) => {
  const values = service.get(key);
  assert.equal(values?.length, 1, `[Service] ${key} is set once`);
  return values![0]!;
};
/** `CAP_NET_ADMIN CAP_X` → setpriv's `-all,+net_admin,+x`. */
const setprivCaps = (list: string) => ['-all', ...list.split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
/** Linux capability numbers of the names the unit uses (linux/capability.h). */
const CAP_BITS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21 };
const capMask = (list: string) => list.split(/\s+/).reduce((m, c) => m | (1n << BigInt(CAP_BITS[c] ?? Number.NaN)), 0n);

const suffix = uniq();
const net = `kt-caps-${suffix}`;
const containers = [`kt-caps-a-${suffix}`, `kt-caps-b-${suffix}`];

describe("kuryr-server with the systemd unit's capabilities only", () => {
  let daemon: PrivateDaemon;
  const bounding = only('CapabilityBoundingSet');
  const ambient = only('AmbientCapabilities');

  before(async () => {
    const wrapper = ['setpriv', `--bounding-set=${setprivCaps(bounding)}`, `--inh-caps=${setprivCaps(ambient)}`, `--ambient-caps=${setprivCaps(ambient)}`];
    if (only('NoNewPrivileges') === 'yes') wrapper.push('--no-new-privs');
    daemon = await PrivateDaemon.start(`kuryr-caps${suffix.slice(0, 4)}`, {}, { wrapper: [...wrapper, '--'] });
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', net);
    await daemon?.stop();
  });

  test('its process holds exactly the bounding set, effective, and cannot gain privileges', () => {
    const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
    const field = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]}`);
    assert.equal(field('CapBnd'), capMask(bounding));
    assert.equal(field('CapEff'), capMask(bounding));
    assert.equal(field('CapAmb'), capMask(ambient));
    assert.match(status, /^NoNewPrivs:\s*1$/m);
  });

  test('containers on its network get their addresses and ping each other', async () => {
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', await freeCidr(4), net);
    for (const c of containers) await docker('run', '-d', '--name', c, '--net', net, IMAGE, 'sleep', '600');
    const [a, b] = await Promise.all(containers.map((c) => containerInterface(c)));
    await docker('exec', containers[0]!, 'ping', '-c', '2', '-W', '2', b!.ipv4[0]!);
    await docker('exec', containers[1]!, 'ping', '-c', '2', '-W', '2', a!.ipv4[0]!);
    await removeQuietly('container', ...containers);
    await docker('network', 'rm', net);
  });
});
