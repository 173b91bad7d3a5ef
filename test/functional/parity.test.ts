import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { config, docker, dockerFails, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const containers: string[] = [];
const networks: string[] = [];
const neutronCleanup: (() => Promise<unknown>)[] = [];

async function net(name: string, ...args: string[]): Promise<string> {
  networks.push(name);
  await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, ...args, name);
  return dockerNetworkId(name);
}

async function run(name: string, network: string, ...args: string[]): Promise<string> {
  containers.push(name);
  await docker('run', '-d', '--name', name, '--net', network, ...args, IMAGE, 'sleep', '600');
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name);
}

describe('upstream parity on addressing', () => {
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', ...networks);
    for (const undo of neutronCleanup.reverse()) await undo().catch(() => undefined);
  });

  test('two Docker networks with the same CIDR each get their own Neutron network, subnet and pool', async () => {
    const prefix = await freePrefix();
    const ids = [await net(`ov1-${suffix}`, '--subnet', `${prefix}.0/24`), await net(`ov2-${suffix}`, '--subnet', `${prefix}.0/24`)];
    const ips = [await run(`ovc1-${suffix}`, `ov1-${suffix}`), await run(`ovc2-${suffix}`, `ov2-${suffix}`)];
    for (const ip of ips) assert.ok(ip.startsWith(`${prefix}.`));
    const subnets = [];
    for (const id of ids) {
      const [n] = await neutron.listNetworks({ tags: idTags(id).join(',') });
      const [s] = await neutron.listSubnets({ network_id: n!.id });
      subnets.push(s!);
    }
    assert.notEqual(subnets[0]!.id, subnets[1]!.id);
    assert.notEqual(subnets[0]!.subnetpool_id, subnets[1]!.subnetpool_id, 'one pool per network');
    await docker('rm', '-f', `ovc1-${suffix}`, `ovc2-${suffix}`);
    await docker('network', 'rm', `ov1-${suffix}`, `ov2-${suffix}`);
    assert.equal((await neutron.listSubnetPools({ name: `${config.subnetpoolNamePrefix}-${prefix}.0/24` })).length, 0, 'both pools released');
  });

  test('an operator pool named with -o and --ipam-opt neutron.pool.name is used, marked, and kept after rm', async () => {
    const prefix = await freePrefix();
    const pool = await neutron.createSubnetPool({ name: `op-pool-${suffix}`, prefixes: [`${prefix}.0/24`], default_prefixlen: 24 } as never);
    neutronCleanup.push(() => neutron.deleteSubnetPool(pool.id));
    const id = await net(`opp-${suffix}`, '--subnet', `${prefix}.0/24`, '-o', `neutron.pool.name=op-pool-${suffix}`, '--ipam-opt', `neutron.pool.name=op-pool-${suffix}`);
    const [n] = await neutron.listNetworks({ tags: idTags(id).join(',') });
    const [s] = await neutron.listSubnets({ network_id: n!.id });
    assert.equal(s!.subnetpool_id, pool.id, 'the subnet comes from the operator pool');
    assert.ok((await neutron.getSubnetPool(pool.id)).tags.includes('kuryr.subnetpool.existing'));
    await docker('network', 'rm', `opp-${suffix}`);
    const kept = await neutron.getSubnetPool(pool.id);
    assert.ok(!kept.tags.includes('kuryr.subnetpool.existing'), 'unmarked');
  });

  test('overlapping operator subnets named with neutron.subnet.name: --ip adopts the right pre-created port on each', async () => {
    const prefix = await freePrefix();
    const made = [];
    for (const i of [1, 2]) {
      const n = await neutron.createNetwork({ name: `opnet${i}-${suffix}`, admin_state_up: true });
      neutronCleanup.push(() => neutron.deleteNetwork(n.id));
      const s = await neutron.createSubnet({ network_id: n.id, ip_version: 4, cidr: `${prefix}.0/24`, name: `opsub${i}-${suffix}`, gateway_ip: `${prefix}.1` });
      const p = await neutron.createPort({ network_id: n.id, name: `opport${i}-${suffix}`, fixed_ips: [{ subnet_id: s.id, ip_address: `${prefix}.10` }] } as never);
      neutronCleanup.push(() => neutron.deletePort(p.id));
      made.push({ n, s, p });
    }
    for (const i of [1, 2]) {
      const o = [`neutron.net.name=opnet${i}-${suffix}`, `neutron.subnet.name=opsub${i}-${suffix}`];
      await net(`sip${i}-${suffix}`, '--subnet', `${prefix}.0/24`, '--gateway', `${prefix}.1`, ...o.flatMap((x) => ['-o', x]), ...o.slice(1).flatMap((x) => ['--ipam-opt', x]));
      await run(`sipc${i}-${suffix}`, `sip${i}-${suffix}`, '--ip', `${prefix}.10`);
    }
    for (const [i, m] of made.entries()) {
      const port = await eventually(`port ${i + 1} ACTIVE`, async () => {
        const p = await neutron.getPort(m.p.id);
        return p.status === 'ACTIVE' ? p : undefined;
      }, 60_000, 500);
      assert.ok(port.tags.includes('kuryr.port.existing'), 'adopted, not copied');
      assert.equal(port.device_owner, 'compute:kuryr');
    }
    await docker('rm', '-f', `sipc1-${suffix}`, `sipc2-${suffix}`);
    for (const m of made) {
      const p = await neutron.getPort(m.p.id);
      assert.equal(p.device_owner, '', 'released: unowned');
      assert.equal(p['binding:host_id'], '', 'released: unbound');
      assert.ok(!p.tags.some((t) => t.startsWith('kuryr.')), 'released: untagged');
    }
    await docker('network', 'rm', `sip1-${suffix}`, `sip2-${suffix}`);
    for (const m of made) assert.equal((await neutron.listPorts({ id: m.p.id })).length, 1, 'the operator port is never deleted');
  });

  test('--mac-address adopts the unbound pre-created port holding that MAC', async () => {
    const prefix = await freePrefix();
    const id = await net(`mac-${suffix}`, '--subnet', `${prefix}.0/24`);
    const [n] = await neutron.listNetworks({ tags: idTags(id).join(',') });
    const [s] = await neutron.listSubnets({ network_id: n!.id });
    const pre = await neutron.createPort({ network_id: n!.id, name: `premac-${suffix}`, mac_address: '02:42:ac:11:22:33', fixed_ips: [{ subnet_id: s!.id, ip_address: `${prefix}.50` }] } as never);
    const ip = await run(`macc-${suffix}`, `mac-${suffix}`, '--mac-address', '02:42:ac:11:22:33');
    assert.equal(ip, `${prefix}.50`, 'the container got the pre-created port\'s address');
    await docker('rm', '-f', `macc-${suffix}`);
    assert.equal((await neutron.listPorts({ id: pre.id })).length, 1, 'kept after release');
    await neutron.deletePort(pre.id);
  });

  test('--ip naming an address a VM port holds is refused and the VM port is left alone', async () => {
    const prefix = await freePrefix();
    const id = await net(`vm-${suffix}`, '--subnet', `${prefix}.0/24`);
    const [n] = await neutron.listNetworks({ tags: idTags(id).join(',') });
    const [s] = await neutron.listSubnets({ network_id: n!.id });
    const vm = await neutron.createPort({ network_id: n!.id, name: `vmport-${suffix}`, device_owner: 'compute:nova', device_id: 'vm-1', fixed_ips: [{ subnet_id: s!.id, ip_address: `${prefix}.60` }] } as never);
    const err = await dockerFails('run', '-d', '--name', `vmc-${suffix}`, '--net', `vm-${suffix}`, '--ip', `${prefix}.60`, IMAGE, 'true');
    assert.match(err, /belongs to Neutron port .*compute:nova/);
    const after = await neutron.getPort(vm.id);
    assert.equal(after.device_id, 'vm-1');
    assert.deepEqual(after.tags, []);
    await removeQuietly('container', `vmc-${suffix}`);
    await neutron.deletePort(vm.id);
  });

  test('neutron.net.shared=true without the operator\'s [neutron] allow_shared_networks is refused and leaves nothing half-done', async () => {
    const prefix = await freePrefix();
    const op = await neutron.createNetwork({ name: `unshared-${suffix}`, admin_state_up: true });
    neutronCleanup.push(() => neutron.deleteNetwork(op.id));
    const err = await dockerFails('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', `${prefix}.0/24`, '-o', `neutron.net.name=unshared-${suffix}`, '-o', 'neutron.net.shared=true', `shr-${suffix}`);
    assert.match(err, /neutron\.net\.shared=true is not allowed.*allow_shared_networks/);
    assert.deepEqual((await neutron.getNetwork(op.id)).tags, [], 'the network was not tagged');
    assert.equal((await neutron.listSubnetPools({ name: `${config.subnetpoolNamePrefix}-${prefix}.0/24` })).length, 0, 'the pool was released');
  });
});
