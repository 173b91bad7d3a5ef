import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp, cidrContains, firstHost, parseCidr, splitInterfaceAddress } from '../../src/libnetwork/cidr.js';
import { KuryrError } from '../../src/errors.js';

test('CIDRs are canonicalised: compressed IPv6, network address', () => {
  assert.equal(parseCidr('2001:0db8:0000::/64').text, '2001:db8::/64');
  assert.equal(parseCidr('10.0.0.5/24').text, '10.0.0.0/24');
});

test('a pool with host bits set is rejected with a hint, as a bad request', () => {
  assert.throws(
    () => parseCidr('10.0.0.5/24', { strict: true }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST' && /did you mean 10\.0\.0\.0\/24/.test(e.message),
  );
});

test('prefix lengths are range-checked per family (upstream accepted /33-/99 for IPv4)', () => {
  assert.throws(() => parseCidr('10.0.0.0/33'), KuryrError);
  assert.throws(() => parseCidr('2001:db8::/129'), KuryrError);
  assert.equal(parseCidr('2001:db8::/109').prefixLength, 109);
  assert.equal(parseCidr('2001:db8::/119').prefixLength, 119);
});

test('garbage is not an address or a CIDR', () => {
  for (const bad of ['', '10.0.0', '10.0.0.256/24', 'abc/24', '1.2.3.4/x', '010.0.0.1/8']) assert.throws(() => parseCidr(bad), KuryrError, bad);
  assert.throws(() => canonicalIp('10.1'), KuryrError);
});

test('the default gateway is the first host address', () => {
  assert.equal(firstHost(parseCidr('10.99.0.0/24')), '10.99.0.1');
  assert.equal(firstHost(parseCidr('10.0.255.0/23')), '10.0.254.1');
  assert.equal(firstHost(parseCidr('fd00:1::/64')), 'fd00:1::1');
});

test('interface addresses split into address and prefix; containment is per family', () => {
  const a = splitInterfaceAddress('10.99.0.7/24');
  assert.equal(a.ip, '10.99.0.7');
  assert.equal(a.prefixLength, 24);
  assert.ok(cidrContains(parseCidr('10.99.0.0/24'), '10.99.0.7'));
  assert.ok(!cidrContains(parseCidr('10.99.0.0/24'), '10.98.0.7'));
  assert.ok(!cidrContains(parseCidr('fd00::/8'), '10.99.0.7'));
});

test('the first free block of the default pool skips every allocated subnet, aligned', async () => {
  const { firstFreeBlock } = await import('../../src/libnetwork/cidr.js');
  const pool = [parseCidr('10.10.0.0/16')];
  assert.equal(firstFreeBlock(pool, 24, [])?.text, '10.10.0.0/24');
  assert.equal(firstFreeBlock(pool, 24, [parseCidr('10.10.0.0/24'), parseCidr('10.10.1.0/25')])?.text, '10.10.2.0/24');
  assert.equal(firstFreeBlock(pool, 24, [parseCidr('10.10.0.0/23'), parseCidr('10.10.3.0/24')])?.text, '10.10.2.0/24');
  assert.equal(firstFreeBlock([parseCidr('10.10.0.0/23')], 24, [parseCidr('10.10.0.0/23')]), undefined, 'a full pool has no block');
  assert.equal(firstFreeBlock([parseCidr('fd10:10::/48')], 64, [parseCidr('fd10:10::/64')])?.text, 'fd10:10:0:1::/64');
});
