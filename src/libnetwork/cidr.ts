import ipaddr from 'ipaddr.js';
import { invalidRequest } from '../errors.js';

/** A parsed CIDR in canonical form (network address, compressed IPv6). */
export interface Cidr {
  readonly version: 4 | 6;
  readonly network: string;
  readonly prefixLength: number;
  /** `network/prefixLength`, the form Neutron returns. */
  readonly text: string;
}

export function isIp(text: string): boolean {
  return ipaddr.isValid(text) && (ipaddr.IPv4.isValidFourPartDecimal(text) || text.includes(':'));
}

export function ipVersion(text: string): 4 | 6 {
  return text.includes(':') ? 6 : 4;
}

/** Canonical text of an address (IPv6 compressed, lower-case). */
export function canonicalIp(text: string): string {
  if (!isIp(text)) throw invalidRequest(`"${text}" is not an IP address`);
  return ipaddr.parse(text).toString();
}

/**
 * Parses a CIDR. Host bits set are an error when strict (a pool must be a network), or cleared
 * when not (an interface address like 10.0.0.5/24).
 */
export function parseCidr(text: string, opts: { strict?: boolean } = {}): Cidr {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let len: number;
  try {
    [addr, len] = ipaddr.parseCIDR(text);
  } catch {
    throw invalidRequest(`"${text}" is not a CIDR`);
  }
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0] ?? '')) {
    throw invalidRequest(`"${text}" is not a CIDR`);
  }
  const version = addr.kind() === 'ipv4' ? 4 : 6;
  const network = (version === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text)).toString();
  if (opts.strict && network !== addr.toString()) {
    throw invalidRequest(`"${text}" has host bits set; did you mean ${network}/${len}?`);
  }
  return { version, network, prefixLength: len, text: `${network}/${len}` };
}

/** Splits "10.0.0.5/24" into the canonical address and the prefix length. */
export function splitInterfaceAddress(text: string): { ip: string; prefixLength: number; cidr: Cidr } {
  const cidr = parseCidr(text);
  return { ip: canonicalIp(text.split('/')[0] ?? ''), prefixLength: cidr.prefixLength, cidr };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  if (ipVersion(ip) !== cidr.version) return false;
  return ipaddr.parse(ip).match(ipaddr.parse(cidr.network), cidr.prefixLength);
}

/** The first usable host address: what Docker and Neutron both pick as a default gateway. */
export function firstHost(cidr: Cidr): string {
  const bytes = ipaddr.parse(cidr.network).toByteArray();
  // Add one to the network address; a /31, /32, /127 or /128 has no separate network address.
  const hostBits = (cidr.version === 4 ? 32 : 128) - cidr.prefixLength;
  if (hostBits <= 1) return cidr.network;
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = (bytes[i] ?? 0) + 1;
    bytes[i] = b & 0xff;
    if (b <= 0xff) break;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function toBigInt(ip: string): bigint {
  return ipaddr
    .parse(ip)
    .toByteArray()
    .reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBigInt(value: bigint, version: 4 | 6): string {
  const bytes: number[] = [];
  for (let i = 0; i < (version === 4 ? 4 : 16); i++) {
    bytes.unshift(Number(value & 0xffn));
    value >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function range(c: Cidr): [bigint, bigint] {
  const bits = BigInt((c.version === 4 ? 32 : 128) - c.prefixLength);
  const start = toBigInt(c.network);
  return [start, start + (1n << bits) - 1n];
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  if (inner.version !== outer.version || inner.prefixLength < outer.prefixLength) return false;
  return cidrContains(outer, inner.network);
}

/**
 * The first block of `prefixLength` inside `prefixes` that overlaps nothing in `used`: how a
 * network without --subnet gets its share of the default subnet pool.
 */
export function firstFreeBlock(prefixes: Cidr[], prefixLength: number, used: Cidr[]): Cidr | undefined {
  for (const prefix of prefixes) {
    if (prefixLength < prefix.prefixLength) continue;
    const size = 1n << BigInt((prefix.version === 4 ? 32 : 128) - prefixLength);
    const [start, end] = range(prefix);
    const taken = used.filter((u) => u.version === prefix.version).map(range).sort((x, y) => (x[0] < y[0] ? -1 : 1));
    let candidate = start;
    while (candidate + size - 1n <= end) {
      const clash = taken.find(([s, e]) => s <= candidate + size - 1n && candidate <= e);
      if (!clash) return parseCidr(`${fromBigInt(candidate, prefix.version)}/${prefixLength}`);
      // Jump past the clash, to the next aligned block.
      candidate = ((clash[1] + 1n + size - 1n) / size) * size;
    }
  }
  return undefined;
}
