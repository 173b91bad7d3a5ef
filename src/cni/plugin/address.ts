/**
 * IP addresses and prefixes in the plugin, from Node's own parser. The daemon's helpers
 * (libnetwork/cidr.ts) use ipaddr.js, a CommonJS package: loading it from an ES module costs a
 * runtime-run executable some 90 ms of CPU at each pod start (measured here), more than everything
 * else the plugin loads; node:net is loaded anyway by the socket client.
 */
import { isIP, SocketAddress } from 'node:net';

/** The address in canonical text (IPv6 compressed, lower case), or undefined for what is no address (a zone `%eth0` included). */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 0 || text.includes('%')) return undefined;
  return new SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
}

export const isAddress = (text: string): boolean => canonicalAddress(text) !== undefined;

/** 4 or 6 for an address or `address/prefix`. */
export const addressVersion = (text: string): 4 | 6 => (text.includes(':') ? 6 : 4);

/** `address/prefix` (an interface address like 10.0.0.5/24, or a route's destination). */
export function isPrefix(text: string): boolean {
  const [address, length, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined || length === undefined || !/^\d{1,3}$/.test(length) || !isAddress(address)) return false;
  return Number(length) <= (addressVersion(address) === 4 ? 32 : 128);
}
