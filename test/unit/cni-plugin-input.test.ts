/**
 * The plugin's reading of CNI_ARGS, port mappings and the daemon's result, case by case (the
 * executable end to end is cni-plugin-spec.test.ts): what the node daemon is handed, and what is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalAddress, isPrefix } from '../../src/cni/plugin/address.js';
import { parseCniArgs } from '../../src/cni/plugin/args.js';
import { readNetConf } from '../../src/cni/plugin/netconf.js';
import { resultFor } from '../../src/cni/plugin/result.js';
import { CniError } from '../../src/cni/plugin/spec.js';

const refusedWith = (code: number, msg: string) => (err: unknown) => {
  assert.ok(err instanceof CniError);
  assert.deepEqual({ code: err.code, msg: err.message }, { code, msg });
  return true;
};

describe('addresses', () => {
  it('are written canonically, and a zone, a short or zero-padded IPv4 is none', () => {
    assert.deepEqual(['10.0.0.1', 'FD00:0:0::0050', '::ffff:10.0.0.1', 'fe80::1%eth0', '10.0.0', '010.0.0.1', ''].map(canonicalAddress), ['10.0.0.1', 'fd00::50', '::ffff:10.0.0.1', undefined, undefined, undefined, undefined]);
  });

  it('with a prefix length in range are prefixes', () => {
    assert.deepEqual(['10.0.0.5/24', '0.0.0.0/0', '::/0', 'fd00::1/128', '10.0.0.5/33', 'fd00::1/129', '10.0.0.5', '10.0.0.5/', '10.0.0.5/2/4', '10.0.0.5/-1'].map(isPrefix), [true, true, true, true, false, false, false, false, false, false]);
  });
});

describe('CNI_ARGS', () => {
  it('passes on the known keys, normalised, without IgnoreUnknown or the unknown keys it lets through', () => {
    assert.deepEqual(parseCniArgs('IgnoreUnknown=true;K8S_POD_UID=0C9A6D3E2F444A479B3E59D0F3C1B2A1;MAC=02:AB:CD:EF:01:23;IP=FD00:0:0::0050;FOO=bar'), {
      K8S_POD_UID: '0c9a6d3e2f444a479b3e59d0f3c1b2a1',
      MAC: '02:ab:cd:ef:01:23',
      IP: 'fd00::50',
    });
  });

  it('takes an empty value as not given, and the same value twice as once', () => {
    assert.deepEqual(parseCniArgs('K8S_POD_UID=;K8S_POD_NAME=web-1;K8S_POD_NAME=web-1'), { K8S_POD_NAME: 'web-1' });
    assert.deepEqual(parseCniArgs(''), {});
  });

  it('refuses unknown keys under IgnoreUnknown=0, and a key given two values', () => {
    assert.throws(() => parseCniArgs('IgnoreUnknown=0;X=1'), refusedWith(2, 'unknown CNI_ARGS key "X" with value "1" (IgnoreUnknown=1 would have it ignored)'));
    assert.throws(() => parseCniArgs('K8S_POD_NAME=a;K8S_POD_NAME=b'), refusedWith(4, 'invalid CNI_ARGS: K8S_POD_NAME is given twice, as "a" and "b"'));
  });

  it('refuses what a name, a namespace or an address cannot be', () => {
    assert.throws(() => parseCniArgs(`K8S_POD_NAME=${'a'.repeat(254)}`), CniError);
    assert.throws(() => parseCniArgs(`K8S_POD_NAMESPACE=${'a'.repeat(64)}`), CniError);
    assert.throws(() => parseCniArgs('K8S_POD_NAMESPACE=-shop'), CniError);
    assert.throws(() => parseCniArgs('IP=10.0.0.1/24'), CniError);
    assert.throws(() => parseCniArgs('IP=010.0.0.1'), CniError);
    assert.throws(() => parseCniArgs('MAC=02:42:de:ad:be'), CniError);
    assert.throws(() => parseCniArgs('MAC=ff:ff:ff:ff:ff:ff'), CniError);
    assert.throws(() => parseCniArgs('K8S_POD_NAME=a=b'), refusedWith(4, 'invalid CNI_ARGS: "K8S_POD_NAME=a=b" is not KEY=VALUE'));
    assert.throws(() => parseCniArgs('K8S_POD_NAME=web;'), refusedWith(4, 'invalid CNI_ARGS: "" is not KEY=VALUE'));
    assert.throws(() => parseCniArgs(`K8S_POD_NAME=${'a'.repeat(9000)}`), refusedWith(4, 'invalid CNI_ARGS: longer than 8192 characters'));
  });
});

describe('the network configuration', () => {
  const conf = (runtimeConfig: unknown) => JSON.stringify({ cniVersion: '1.0.0', name: 'pods', type: 'kuryr-cni', runtimeConfig });
  const mappings = (runtimeConfig: unknown) => (readNetConf(conf(runtimeConfig), 'ADD')['runtimeConfig'] as { portMappings: unknown }).portMappings;

  it('reads port mappings in either spelling into camelCase, protocol in lower case (tcp when absent), host address canonical', () => {
    assert.deepEqual(
      mappings({
        portMappings: [
          { HostPort: 8080, ContainerPort: 80, Protocol: 'TCP', HostIP: '' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: 'FD00::0001' },
          { hostPort: 9000, containerPort: 9000 },
        ],
      }),
      [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: 'fd00::1' },
        { hostPort: 9000, containerPort: 9000, protocol: 'tcp' },
      ],
    );
    assert.deepEqual(mappings({ portMappings: null }), []);
  });

  it('keeps the rest of runtimeConfig and of the config as the runtime gave it', () => {
    const raw = { cniVersion: '0.4.0', name: 'pods', type: 'kuryr-cni', ipam: { type: 'none' }, runtimeConfig: { aliases: { pods: ['a1'] } }, 'kuryr.pool': false };
    assert.deepEqual(readNetConf(JSON.stringify(raw), 'ADD'), raw);
  });

  it('refuses a port mapping that is no port mapping', () => {
    assert.throws(() => mappings({ portMappings: [{ hostPort: 80.5, containerPort: 80 }] }), refusedWith(7, 'runtimeConfig.portMappings[0].hostPort 80.5 is not a port (1-65535)'));
    assert.throws(() => mappings({ portMappings: [{ hostPort: 80 }] }), refusedWith(7, 'runtimeConfig.portMappings[0].containerPort undefined is not a port (1-65535)'));
    assert.throws(() => mappings({ portMappings: [{ hostPort: 80, containerPort: 80, hostIP: 'localhost' }] }), refusedWith(7, 'runtimeConfig.portMappings[0].hostIP "localhost" is not an IP address'));
    assert.throws(() => mappings({ portMappings: ['80:80'] }), refusedWith(7, 'runtimeConfig.portMappings[0] is not an object'));
    assert.throws(() => mappings({ portMappings: { hostPort: 80 } }), refusedWith(7, 'runtimeConfig.portMappings is not a list'));
    assert.throws(() => mappings('x'), refusedWith(7, 'runtimeConfig is not an object'));
  });

  it('refuses a configuration over the size the daemon takes', () => {
    const big = JSON.stringify({ cniVersion: '1.0.0', name: 'pods', type: 'kuryr-cni', pad: 'x'.repeat(1024 * 1024) });
    assert.throws(() => readNetConf(big, 'ADD'), refusedWith(7, 'network configuration larger than 1024000 bytes'));
  });
});

describe('the daemon\'s result', () => {
  const result = { interfaces: [{ name: 'eth0', mac: 'FA:16:3E:00:00:01', sandbox: '/run/netns/x' }], ips: [{ address: '10.0.0.5/24', interface: 0 }], routes: [], dns: {} };

  it('is printed with the MAC in lower case and only the fields of the version', () => {
    assert.deepEqual(resultFor({ ...result, extra: 1 }, '0.3.1'), {
      cniVersion: '0.3.1',
      interfaces: [{ name: 'eth0', mac: 'fa:16:3e:00:00:01', sandbox: '/run/netns/x' }],
      ips: [{ version: '4', address: '10.0.0.5/24', interface: 0 }],
      routes: [],
      dns: {},
    });
  });

  it('is refused when a runtime could not use it', () => {
    const bad = (patch: object, msg: string) => assert.throws(() => resultFor({ ...result, ...patch }, '1.0.0'), refusedWith(999, `the Kuryr daemon answered ADD with an unusable result: ${msg}`));
    bad({ interfaces: [] }, 'no interface');
    bad({ interfaces: [{ name: 'eth0', mac: '' }] }, 'interfaces[0] (eth0) has no MAC address ("")');
    bad({ ips: [{ address: '10.0.0.5', interface: 0 }] }, 'ips[0].address "10.0.0.5" is not an address/prefix');
    bad({ ips: [{ address: '10.0.0.5/24', interface: 1 }] }, 'ips[0].interface 1 is not an index into interfaces');
    bad({ routes: [{ dst: '0.0.0.0/0', gw: 'gateway' }] }, 'routes[0].gw "gateway" is not an IP address');
    bad({ dns: { nameservers: ['ns1'] } }, 'dns.nameservers is not a list of addresses');
    assert.throws(() => resultFor(undefined, '1.0.0'), refusedWith(999, 'the Kuryr daemon answered ADD with an unusable result: no result'));
  });
});
