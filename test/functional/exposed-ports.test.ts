import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, dockerNetworkId, DRIVER, eventually, foreignHost, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { EXPOSED_GROUP_TAG } from '../../src/libnetwork/exposed-ports.js';
import { idTags } from '../../src/libnetwork/naming.js';

const suffix = uniq();
const NET = `kt-exp-${suffix}`;
const SERVER = `kt-srv-${suffix}`;
const cleanup: (() => Promise<unknown>)[] = [];

describe('exposed ports', () => {
  after(async () => {
    for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
    await removeQuietly('container', SERVER);
    await removeQuietly('network', NET);
  });

  test('--expose opens exactly that port to hosts outside the container\'s security group, IPv4 and IPv6 rules alike', async () => {
    const prefix = await freePrefix();
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', `${prefix}.0/24`, NET);
    const [net] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(NET)).join(',') });
    // Two web servers in one container; only 80 is exposed.
    await docker('run', '-d', '--name', SERVER, '--net', NET, '--expose', '80', '--expose', '8000-8001/udp', IMAGE, 'sh', '-c',
      'mkdir -p /www && echo exposed > /www/index.html && httpd -p 80 -h /www && httpd -f -p 81 -h /www');
    const serverIp = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, SERVER);
    const endpointId = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, SERVER);
    const port = await eventually('the server port', async () => (await neutron.listPorts({ device_id: endpointId }))[0]);
    const [group] = await neutron.listSecurityGroups({ name: `${port.id}-exposed_ports` });
    assert.ok(group, 'one security group for the endpoint\'s exposed ports');
    assert.ok(group.tags.includes(EXPOSED_GROUP_TAG), `the group carries Kuryr's ${EXPOSED_GROUP_TAG} tag: kuryr gc deletes only groups that do`);
    const rules = (group as unknown as { security_group_rules: { direction: string; protocol: string | null; ethertype: string; port_range_min: number | null; port_range_max: number | null }[] }).security_group_rules
      .filter((r) => r.direction === 'ingress')
      .map((r) => `${r.ethertype} ${r.protocol} ${r.port_range_min}-${r.port_range_max}`)
      .sort();
    assert.deepEqual(rules, ['IPv4 tcp 80-80', 'IPv4 udp 8000-8001', 'IPv6 tcp 80-80', 'IPv6 udp 8000-8001'], 'consecutive ports collapse into ranges');
    assert.ok((await neutron.getPort(port.id)).security_groups.includes(group.id), 'the group is on the port');

    // A host in a security group of its own: the default group's member-only rule does not let it in.
    const sg = await neutron.createSecurityGroup({ name: `kt-client-${suffix}` });
    cleanup.push(() => neutron.deleteSecurityGroup(sg.id));
    const client = await foreignHost(net!.id, [sg.id]);
    cleanup.push(() => client.remove());
    const body = await eventually('the exposed port to answer', async () => {
      const out = await client.exec(['curl', '-s', '--max-time', '2', `http://${serverIp}:80/`]).catch(() => '');
      return out.includes('exposed') ? out : undefined;
    }, 30_000, 500);
    assert.match(body, /exposed/);
    const closed = await client.exec(['curl', '-s', '--max-time', '3', `http://${serverIp}:81/`]).then(() => 'answered', () => 'refused or timed out');
    assert.equal(closed, 'refused or timed out', 'a port that is not exposed does not answer');

    await docker('rm', '-f', SERVER);
    assert.equal((await neutron.listSecurityGroups({ name: `${port.id}-exposed_ports` })).length, 0, 'the group goes with the endpoint');
  });
});
