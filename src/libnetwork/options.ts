import { invalidRequest } from '../errors.js';
import { OPT_GENERIC, type Options } from './api.js';

/** The `neutron.*` options a user passes with `-o` (network side) or `--ipam-opt` (IPAM side). */
export interface FamilyOptions {
  subnetUuid?: string;
  subnetName?: string;
  poolUuid?: string;
  poolName?: string;
}

export interface NeutronOptions {
  netUuid?: string;
  netName?: string;
  shared: boolean;
  v4: FamilyOptions;
  v6: FamilyOptions;
}

const KNOWN_KEYS = new Set([
  'neutron.net.uuid',
  'neutron.net.name',
  'neutron.net.shared',
  'neutron.subnet.uuid',
  'neutron.subnet.name',
  'neutron.subnet.v6.uuid',
  'neutron.subnet.v6.name',
  'neutron.pool.uuid',
  'neutron.pool.name',
  'neutron.pool.v6.uuid',
  'neutron.pool.v6.name',
]);

/** oslo's bool_from_string, strict: anything unrecognised is an error rather than silently false. */
export function parseBool(key: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(text)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no', ''].includes(text)) return false;
  throw invalidRequest(`option ${key}=${JSON.stringify(value)} is not a boolean`);
}

function text(key: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalidRequest(`option ${key} must be a string`);
  if (value.length > 255) throw invalidRequest(`option ${key} is too long`);
  return value;
}

/** Parses neutron.* keys from a flat option map; other keys (Docker's own) are ignored. */
export function parseNeutronOptions(map: Record<string, unknown> | null | undefined): NeutronOptions {
  const o = map ?? {};
  for (const key of Object.keys(o)) {
    if (key.startsWith('neutron.') && !KNOWN_KEYS.has(key)) {
      throw invalidRequest(`unknown option ${key}; known: ${[...KNOWN_KEYS].join(', ')}`);
    }
  }
  const family = (v6: boolean): FamilyOptions => {
    const s = v6 ? '.v6' : '';
    return {
      subnetUuid: text(`neutron.subnet${s}.uuid`, o[`neutron.subnet${s}.uuid`]),
      subnetName: text(`neutron.subnet${s}.name`, o[`neutron.subnet${s}.name`]),
      poolUuid: text(`neutron.pool${s}.uuid`, o[`neutron.pool${s}.uuid`]),
      poolName: text(`neutron.pool${s}.name`, o[`neutron.pool${s}.name`]),
    };
  };
  return {
    netUuid: text('neutron.net.uuid', o['neutron.net.uuid']),
    netName: text('neutron.net.name', o['neutron.net.name']),
    shared: o['neutron.net.shared'] === undefined ? false : parseBool('neutron.net.shared', o['neutron.net.shared']),
    v4: family(false),
    v6: family(true),
  };
}

/** The user's `-o` options, which Docker wraps in com.docker.network.generic. */
export function genericOptions(options: Options | null | undefined): Record<string, unknown> {
  const generic = options?.[OPT_GENERIC];
  if (generic === undefined || generic === null) return {};
  if (typeof generic !== 'object' || Array.isArray(generic)) throw invalidRequest(`${OPT_GENERIC} must be an object`);
  return generic as Record<string, unknown>;
}

/** A network's own pool settings, from `-o kuryr.pool=true|false` and `-o kuryr.pool.min=N`. */
export interface PoolOptions {
  /** Undefined leaves it to [vif_pool] enabled. */
  enabled?: boolean;
  /** Free ports kept ready for this network; undefined leaves it to [vif_pool] ports_pool_min. */
  min?: number;
}

/** More free ports than this per network would be a typo, not a burst. */
export const MAX_POOL_MIN = 1000;
const POOL_KEYS = new Set(['kuryr.pool', 'kuryr.pool.min']);

export function parsePoolOptions(generic: Record<string, unknown>): PoolOptions {
  for (const key of Object.keys(generic)) {
    if (key.startsWith('kuryr.pool') && !POOL_KEYS.has(key)) throw invalidRequest(`unknown option ${key}; known: ${[...POOL_KEYS].join(', ')}`);
  }
  const enabled = generic['kuryr.pool'] === undefined ? undefined : parseBool('kuryr.pool', generic['kuryr.pool']);
  const rawMin = generic['kuryr.pool.min'];
  if (rawMin === undefined) return { enabled };
  const min = typeof rawMin === 'number' || (typeof rawMin === 'string' && /^\d{1,6}$/.test(rawMin.trim())) ? Number(rawMin) : NaN;
  if (!Number.isInteger(min) || min < 0 || min > MAX_POOL_MIN) {
    throw invalidRequest(`option kuryr.pool.min=${JSON.stringify(rawMin)} must be a whole number from 0 to ${MAX_POOL_MIN}`);
  }
  if (enabled === false) throw invalidRequest('option kuryr.pool.min sizes a port pool, but kuryr.pool=false turns pools off for this network');
  return { enabled: true, min };
}
