/**
 * What `-p` can ask of Kuryr (Docker's com.docker.network.portmap): tcp and udp single ports, from
 * the floating IP. Everything else is refused with a message saying what to do, never half-published.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KuryrError } from '../../src/errors.js';
import { parsePortMap } from '../../src/libnetwork/published-ports.js';

const TCP = 6;
const UDP = 17;
const SCTP = 132;

const refused = (value: unknown, message: RegExp) =>
  assert.throws(() => parsePortMap(value), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST' && message.test(e.message));

test('-p 8080:80 and -p 5353:53/udp, with or without the unspecified host address Docker may send', () => {
  assert.deepEqual(parsePortMap([{ Proto: TCP, Port: 80, HostPort: 8080, HostIP: '' }, { Proto: UDP, Port: 53, HostPort: 5353, HostIP: '0.0.0.0' }, { Proto: TCP, Port: 81, HostPort: 8081, HostIP: '::' }]), [
    { protocol: 'tcp', containerPort: 80, hostPort: 8080 },
    { protocol: 'udp', containerPort: 53, hostPort: 5353 },
    { protocol: 'tcp', containerPort: 81, hostPort: 8081 },
  ]);
});

test('-p 80 (no host port): the floating IP forwards the same port number', () => {
  assert.deepEqual(parsePortMap([{ Proto: TCP, Port: 80, HostPort: 0 }]), [{ protocol: 'tcp', containerPort: 80, hostPort: 80 }]);
});

test('sctp, host port ranges and a host address are refused', () => {
  refused([{ Proto: SCTP, Port: 80 }], /protocol 132 is not tcp or udp/);
  refused([{ Proto: TCP, Port: 80, HostPort: 8080, HostPortEnd: 8081 }], /host port ranges \(8080-8081\) are not supported/);
  refused([{ Proto: TCP, Port: 80, HostPort: 8080, HostIP: '127.0.0.1' }], /published ports bound to a host address \(-p 127\.0\.0\.1:8080:80\) are not supported: Kuryr forwards from the floating IP \[port_forwarding\] floating_ip/);
});
