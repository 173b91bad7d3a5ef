/**
 * ADD's result: the node daemon answers in the 1.0.0 shape; the runtime gets the version its
 * configuration asked for. 1.1.0 adds `interfaces[].mtu`; 0.4.0 and 0.3.1 carry `ips[].version`.
 * The daemon's answer is checked first: a runtime gets a clear error rather than a result it cannot
 * use (podman 4.3 fails a pod whose interface has no `mac` with a bare "invalid MAC address").
 */
import type { CniResult } from '../daemon/api.js';
import { isValidIfName } from '../../binding/naming.js';
import { addressVersion, isAddress, isPrefix } from './address.js';
import { atLeast, CNI_CODE, CniError, isObject, MAC_RE, quote, type CniVersion, type JsonObject } from './spec.js';

const unusable = (what: string) => new CniError(CNI_CODE.INTERNAL, `the Kuryr daemon answered ADD with an unusable result: ${what}`);

const isCidr = (v: unknown): v is string => typeof v === 'string' && isPrefix(v);
const isIpText = (v: unknown): v is string => typeof v === 'string' && isAddress(v);
const optional = <T>(v: unknown, valid: (x: unknown) => x is T): v is T | undefined => v === undefined || valid(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function list(raw: JsonObject, key: string): unknown[] {
  const v = raw[key] ?? [];
  if (!Array.isArray(v)) throw unusable(`${key} is not a list`);
  return v;
}

function interfaces(raw: JsonObject): CniResult['interfaces'] {
  return list(raw, 'interfaces').map((i, n) => {
    if (!isObject(i) || typeof i['name'] !== 'string' || !isValidIfName(i['name'])) throw unusable(`interfaces[${n}] has no valid name`);
    const mac = typeof i['mac'] === 'string' ? i['mac'].toLowerCase() : undefined;
    if (!mac || !MAC_RE.test(mac)) throw unusable(`interfaces[${n}] (${i['name']}) has no MAC address (${quote(i['mac'])})`);
    if (!optional(i['sandbox'], (s): s is string => typeof s === 'string' && s !== '')) throw unusable(`interfaces[${n}].sandbox is not a path`);
    const mtu = i['mtu'];
    if (!optional(mtu, (m): m is number => Number.isInteger(m) && (m as number) >= 68 && (m as number) <= 65535)) throw unusable(`interfaces[${n}].mtu ${quote(mtu)} is not an MTU`);
    return { name: i['name'], mac, ...(i['sandbox'] ? { sandbox: i['sandbox'] as string } : {}), ...(mtu ? { mtu: mtu as number } : {}) };
  });
}

function ips(raw: JsonObject, interfaceCount: number): CniResult['ips'] {
  return list(raw, 'ips').map((ip, n) => {
    if (!isObject(ip) || !isCidr(ip['address'])) throw unusable(`ips[${n}].address ${quote(isObject(ip) ? ip['address'] : ip)} is not an address/prefix`);
    if (!optional(ip['gateway'], isIpText)) throw unusable(`ips[${n}].gateway ${quote(ip['gateway'])} is not an IP address`);
    const index = ip['interface'];
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= interfaceCount) throw unusable(`ips[${n}].interface ${quote(index)} is not an index into interfaces`);
    return { address: ip['address'], ...(ip['gateway'] ? { gateway: ip['gateway'] as string } : {}), interface: index as number };
  });
}

function routes(raw: JsonObject): CniResult['routes'] {
  return list(raw, 'routes').map((r, n) => {
    if (!isObject(r) || !isCidr(r['dst'])) throw unusable(`routes[${n}].dst is not a destination prefix`);
    if (!optional(r['gw'], isIpText)) throw unusable(`routes[${n}].gw ${quote(r['gw'])} is not an IP address`);
    return { dst: r['dst'], ...(r['gw'] ? { gw: r['gw'] as string } : {}) };
  });
}

function dns(raw: JsonObject): JsonObject {
  const d = raw['dns'] ?? {};
  if (!isObject(d)) throw unusable('dns is not an object');
  const out: JsonObject = {};
  if (d['nameservers'] !== undefined) {
    if (!isStringList(d['nameservers']) || !d['nameservers'].every(isAddress)) throw unusable('dns.nameservers is not a list of addresses');
    out['nameservers'] = d['nameservers'];
  }
  if (d['domain'] !== undefined) {
    if (typeof d['domain'] !== 'string') throw unusable('dns.domain is not a string');
    out['domain'] = d['domain'];
  }
  for (const key of ['search', 'options']) {
    if (d[key] === undefined) continue;
    if (!isStringList(d[key])) throw unusable(`dns.${key} is not a list of strings`);
    out[key] = d[key];
  }
  return out;
}

/** The daemon's 1.0.0-shaped result, checked, in the version the runtime asked for. */
export function resultFor(raw: unknown, version: CniVersion): JsonObject {
  if (!isObject(raw)) throw unusable('no result');
  const ifaces = interfaces(raw);
  if (ifaces.length === 0) throw unusable('no interface');
  const addresses = ips(raw, ifaces.length);
  return {
    cniVersion: version,
    // Interface MTU came in 1.1.0; older runtimes read only name, mac and sandbox.
    interfaces: atLeast(version, '1.1.0') ? ifaces : ifaces.map(({ mtu: _mtu, ...rest }) => rest),
    // 1.0.0 dropped ips[].version; 0.3.x and 0.4.0 require it.
    ips: atLeast(version, '1.0.0') ? addresses : addresses.map((a) => ({ version: String(addressVersion(a.address)), ...a })),
    routes: routes(raw),
    dns: dns(raw),
  };
}
