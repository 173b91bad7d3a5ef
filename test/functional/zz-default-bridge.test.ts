/**
 * The main dockerd's default bridge still works after the suite: tests that start a dockerd of their
 * own (scripts/second-docker.sh, security.test.ts) must leave the host's docker0 alone (a dockerd
 * started with --bridge=none deletes it). Named to sort last: scripts/test.sh runs files in name
 * order, so this runs after every file that starts a second dockerd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGE, docker, sh } from './harness.js';
import { cidrWithin, parseCidr } from '../../src/libnetwork/cidr.js';

test('the main dockerd\'s default bridge (docker0) still exists and a container on it gets an address in its subnet', async () => {
  const bridge = await docker('network', 'inspect', 'bridge', '-f', '{{index .Options "com.docker.network.bridge.name"}}');
  assert.equal(bridge, 'docker0', 'the main dockerd\'s default network is on docker0');
  const link = await sh('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge]).catch((err: Error) => assert.fail(`the host has no ${bridge} any more: ${err.message}`));
  const subnet = /inet (\S+)/.exec(link)?.[1];
  assert.ok(subnet, `${bridge} has an IPv4 address: ${link}`);
  const inside = await docker('run', '--rm', IMAGE, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0');
  const address = /inet (\S+)/.exec(inside)?.[1];
  assert.ok(address, `the container on the default bridge has an IPv4 address: ${inside}`);
  assert.ok(cidrWithin(parseCidr(`${address.split('/')[0]}/32`), parseCidr(subnet)), `${address} is within ${bridge}'s ${subnet}`);
});
