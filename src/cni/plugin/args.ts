/**
 * CNI_ARGS (`K=V;K2=V2`, split as libcni splits it): the pod identity kubelet-style runtimes send
 * (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, K8S_POD_INFRA_CONTAINER_ID, in any order) and what
 * podman sends (K8S_POD_NAME = the container or pod name; IP= and MAC= from --ip/--mac-address).
 * Every value is checked here: the daemon puts them in Neutron tags and on the pod's port.
 */
import { canonicalAddress, isAddress } from './address.js';
import { CONTAINER_ID_RE } from './env.js';
import { CNI_CODE, CniError, MAC_RE, quote } from './spec.js';

/** Far more than any runtime sends; a longer CNI_ARGS is not a runtime's. */
const MAX_ARGS_LENGTH = 8192;

/** A Kubernetes namespace: a DNS-1123 label. */
const NAMESPACE_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A pod name (a DNS-1123 subdomain) or, from podman, a container or pod name (upper case and `_` allowed). */
const POD_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
/** A pod UID: a UUID, or the 32 hex digits kubelet gives a static pod. */
const POD_UID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/** A unicast MAC (the group bit, the lowest of the first octet, clear): a port cannot take a multicast address. */
const isUnicastMac = (mac: string): boolean => MAC_RE.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0;

interface KnownArg {
  /** What a valid value is, for the message. */
  want: string;
  valid: (value: string) => boolean;
  /** The form the daemon gets. */
  normalise?: (value: string) => string;
}

const KNOWN_ARGS: Record<string, KnownArg> = {
  K8S_POD_NAMESPACE: { want: 'a Kubernetes namespace (DNS-1123 label)', valid: (v) => NAMESPACE_RE.test(v) },
  K8S_POD_NAME: { want: 'a pod or container name (1-253 of [A-Za-z0-9_.-], alphanumeric first)', valid: (v) => POD_NAME_RE.test(v) },
  K8S_POD_UID: { want: 'a pod UID (a UUID)', valid: (v) => POD_UID_RE.test(v), normalise: (v) => v.toLowerCase() },
  K8S_POD_INFRA_CONTAINER_ID: { want: 'a container id', valid: (v) => CONTAINER_ID_RE.test(v) },
  IP: { want: 'an IPv4 or IPv6 address', valid: isAddress, normalise: (v) => canonicalAddress(v) ?? v },
  MAC: { want: 'a unicast MAC address (xx:xx:xx:xx:xx:xx)', valid: (v) => isUnicastMac(v.toLowerCase()), normalise: (v) => v.toLowerCase() },
};

/** libcni's UnmarshallableBool. */
const IGNORE_UNKNOWN: Record<string, boolean> = { '1': true, true: true, '0': false, false: false };

const invalid = (what: string) => new CniError(CNI_CODE.INVALID_ENV, `invalid CNI_ARGS: ${what}`);

function splitPairs(cniArgs: string): [string, string][] {
  if (cniArgs.length > MAX_ARGS_LENGTH) throw invalid(`longer than ${MAX_ARGS_LENGTH} characters`);
  if (cniArgs === '') return [];
  return cniArgs.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '') throw invalid(`${quote(pair)} is not KEY=VALUE`);
    return kv as [string, string];
  });
}

/**
 * The known keys with their values checked and normalised. IgnoreUnknown is not passed on, nor
 * are the unknown keys it lets through; an empty value is taken as not given.
 */
export function parseCniArgs(cniArgs: string): Record<string, string> {
  const pairs = splitPairs(cniArgs);
  const ignoreUnknownValues = pairs.filter(([k]) => k === 'IgnoreUnknown').map(([, v]) => IGNORE_UNKNOWN[v.toLowerCase()]);
  if (ignoreUnknownValues.includes(undefined)) throw invalid('IgnoreUnknown must be 1, true, 0 or false');
  const ignoreUnknown = ignoreUnknownValues.at(-1) ?? false;
  const args: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key === 'IgnoreUnknown') continue;
    const known = Object.hasOwn(KNOWN_ARGS, key) ? KNOWN_ARGS[key] : undefined;
    if (!known) {
      if (ignoreUnknown) continue;
      throw new CniError(CNI_CODE.UNSUPPORTED_FIELD, `unknown CNI_ARGS key ${quote(key)} with value ${quote(value)} (IgnoreUnknown=1 would have it ignored)`);
    }
    if (value === '') continue;
    if (!known.valid(value)) throw invalid(`${key}=${quote(value)} is not ${known.want}`);
    const normal = known.normalise ? known.normalise(value) : value;
    if (args[key] !== undefined && args[key] !== normal) throw invalid(`${key} is given twice, as ${quote(args[key])} and ${quote(value)}`);
    args[key] = normal;
  }
  return args;
}
