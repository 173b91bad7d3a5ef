import { KuryrError, invalidRequest } from '../errors.js';
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
  if (value.length > 255) throw invalidRequest(`option ${key} is too long (at most 255 characters)`);
  return value;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Control characters, and the comma Neutron splits list filters (tags) on. */
const UNSAFE_IN_NAME_RE = /[\u0000-\u001f\u007f,]/;

/** A `*.uuid` option goes into an `id` (or tag) filter: only a UUID, so it cannot add a filter of its own. */
function uuid(key: string, value: unknown): string | undefined {
  const v = text(key, value);
  if (v !== undefined && !UUID_RE.test(v)) throw invalidRequest(`option ${key}=${JSON.stringify(v.slice(0, 64))} is not a UUID`);
  return v?.toLowerCase();
}

/** A `*.name` option goes into a `name` filter: printable, no comma. */
function name(key: string, value: unknown): string | undefined {
  const v = text(key, value);
  if (v !== undefined && UNSAFE_IN_NAME_RE.test(v)) throw invalidRequest(`option ${key} holds a control character or a comma; Neutron names here are plain text`);
  return v;
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
      subnetUuid: uuid(`neutron.subnet${s}.uuid`, o[`neutron.subnet${s}.uuid`]),
      subnetName: name(`neutron.subnet${s}.name`, o[`neutron.subnet${s}.name`]),
      poolUuid: uuid(`neutron.pool${s}.uuid`, o[`neutron.pool${s}.uuid`]),
      poolName: name(`neutron.pool${s}.name`, o[`neutron.pool${s}.name`]),
    };
  };
  return {
    netUuid: uuid('neutron.net.uuid', o['neutron.net.uuid']),
    netName: name('neutron.net.name', o['neutron.net.name']),
    shared: o['neutron.net.shared'] === undefined ? false : parseBool('neutron.net.shared', o['neutron.net.shared']),
    v4: family(false),
    v6: family(true),
  };
}

/**
 * A shared network (or subnet pool) is open to every project of the cloud: Kuryr makes or adopts one
 * only when the operator allowed it ([neutron] allow_shared_networks).
 */
export function checkSharedAllowed(options: NeutronOptions, allowSharedNetworks: boolean): void {
  if (options.shared && !allowSharedNetworks) {
    throw new KuryrError('KURYR_ERR_FORBIDDEN', 'option neutron.net.shared=true is not allowed: the operator has not set [neutron] allow_shared_networks = True in kuryr.conf');
  }
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

/** `portsPoolMax`: [vif_pool] ports_pool_max; when above 0, no network's minimum may exceed it. */
export function parsePoolOptions(generic: Record<string, unknown>, portsPoolMax: number): PoolOptions {
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
  if (portsPoolMax > 0 && min > portsPoolMax) {
    throw invalidRequest(`option kuryr.pool.min=${min} is above [vif_pool] ports_pool_max = ${portsPoolMax}, the most free ports a pool may hold`);
  }
  if (enabled === false) throw invalidRequest('option kuryr.pool.min sizes a port pool, but kuryr.pool=false turns pools off for this network');
  return { enabled: true, min };
}
