/**
 * The network configuration a runtime writes on stdin, decoded and checked before anything reaches
 * the node daemon: the keys the spec requires, the version against the command, Kuryr's own
 * `daemonSocket`, `runtimeConfig.portMappings` (podman's camelCase keys or containerd's Capitalized
 * ones, passed on in camelCase) and GC's list of attachments still in use (under either name libcni
 * sends, passed on as `cni.dev/valid-attachments`). Other keys pass through untouched, as the spec asks.
 */
import { isValidIfName } from '../../binding/naming.js';
import { canonicalAddress } from './address.js';
import { CONTAINER_ID_RE } from './env.js';
import { atLeast, CNI_CODE, CniError, isObject, isSupportedVersion, quote, SUPPORTED_VERSIONS, type CniCommandName, type CniVersion, type JsonObject } from './spec.js';

/** The socket the node daemon listens on when the config names none (`[cni_daemon] socket_path`'s default). */
export const DEFAULT_DAEMON_SOCKET = '/run/kuryr/cni.sock';
/** Leaves room for the request's other fields under the node daemon's 1 MiB body limit. */
export const MAX_CONFIG_BYTES = 1000 * 1024;
/** A unix socket path is at most 107 bytes (sun_path holds 108 with the NUL). */
const MAX_SOCKET_PATH = 107;
/** The spec's rule for network names, bounded as the daemon bounds them. */
const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
const MAX_PORT_MAPPINGS = 1024;
/** As many attachments as the node daemon takes in one GC. */
const MAX_ATTACHMENTS = 10_000;
const ATTACHMENT_KEYS = ['cni.dev/valid-attachments', 'cni.dev/attachments'] as const;

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  [key: string]: unknown;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

const invalidConfig = (msg: string) => new CniError(CNI_CODE.INVALID_CONFIG, msg);

/** stdin as a JSON object, or code 6. */
export function decodeConfig(stdin: string): JsonObject {
  if (Buffer.byteLength(stdin) > MAX_CONFIG_BYTES) throw invalidConfig(`network configuration larger than ${MAX_CONFIG_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_CODE.DECODING_FAILURE, `error decoding the network configuration on stdin: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new CniError(CNI_CODE.DECODING_FAILURE, 'error decoding the network configuration on stdin: not a JSON object');
  return parsed;
}

/** The version a request asked for, if stdin says one: what a VERSION answer and an error answer echo. */
export function askedVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as JsonObject)?.['cniVersion'];
    return typeof v === 'string' && /^\d{1,4}\.\d{1,4}\.\d{1,4}$/.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The oldest version that has each command. */
const SINCE: Partial<Record<CniCommandName, CniVersion>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

function checkVersion(raw: JsonObject, command: CniCommandName): CniVersion {
  const v = raw['cniVersion'];
  if (typeof v !== 'string' || v === '') throw invalidConfig('network configuration has no cniVersion');
  if (!isSupportedVersion(v)) {
    throw new CniError(CNI_CODE.INCOMPATIBLE_VERSION, 'incompatible CNI versions', `config is ${quote(v)}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`);
  }
  const since = SINCE[command];
  if (since && !atLeast(v, since)) throw new CniError(CNI_CODE.INCOMPATIBLE_VERSION, `config version ${v} does not allow ${command} (it came in ${since})`);
  return v;
}

function checkIdentity(raw: JsonObject): void {
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') throw invalidConfig('network configuration has no name');
  if (!NETWORK_NAME_RE.test(name)) throw invalidConfig(`network name ${quote(name)} is not 1-253 of [A-Za-z0-9_.-], alphanumeric first`);
  const type = raw['type'];
  if (typeof type !== 'string' || type === '' || type.length > 253) throw invalidConfig('network configuration has no type');
}

/** Where the node daemon listens: Kuryr's `daemonSocket` key, or the default. */
export function daemonSocketOf(conf: NetConf): string {
  return (conf['daemonSocket'] as string | undefined) ?? DEFAULT_DAEMON_SOCKET;
}

function checkDaemonSocket(raw: JsonObject): void {
  const socket = raw['daemonSocket'];
  if (socket === undefined) return;
  if (typeof socket !== 'string' || !socket.startsWith('/') || Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw invalidConfig(`daemonSocket ${quote(socket)} is not an absolute path of at most ${MAX_SOCKET_PATH} bytes`);
  }
}

/** A mapping's fields under podman's and containerd's spellings. */
const PORT_FIELDS = { hostPort: ['hostPort', 'HostPort'], containerPort: ['containerPort', 'ContainerPort'], protocol: ['protocol', 'Protocol'], hostIP: ['hostIP', 'HostIP'] } as const;
const SPELLINGS = new Set<string>(Object.values(PORT_FIELDS).flat());
const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

function portMapping(raw: unknown, where: string): PortMapping {
  if (!isObject(raw)) throw invalidConfig(`${where} is not an object`);
  const unknown = Object.keys(raw).find((k) => !SPELLINGS.has(k));
  if (unknown !== undefined) throw new CniError(CNI_CODE.UNSUPPORTED_FIELD, `unsupported field ${where}.${unknown}=${quote(raw[unknown])}`);
  const field = (name: keyof typeof PORT_FIELDS): unknown => {
    const given = PORT_FIELDS[name].filter((k) => raw[k] !== undefined);
    if (given.length > 1) throw invalidConfig(`${where} gives ${given.join(' and ')}`);
    return given[0] === undefined ? undefined : raw[given[0]];
  };
  const port = (name: 'hostPort' | 'containerPort'): number => {
    const p = field(name);
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw invalidConfig(`${where}.${name} ${quote(p)} is not a port (1-65535)`);
    return p;
  };
  const proto = field('protocol') ?? 'tcp';
  const protocol = typeof proto === 'string' ? PROTOCOLS.find((p) => p === proto.toLowerCase()) : undefined;
  if (!protocol) throw invalidConfig(`${where}.protocol ${quote(proto)} is not tcp, udp or sctp`);
  // containerd always sends HostIP, "" when the pod names none.
  const hostIP = field('hostIP') ?? '';
  const address = typeof hostIP === 'string' && hostIP !== '' ? canonicalAddress(hostIP) : undefined;
  if (hostIP !== '' && !address) throw invalidConfig(`${where}.hostIP ${quote(hostIP)} is not an IP address`);
  return { hostPort: port('hostPort'), containerPort: port('containerPort'), protocol, ...(address ? { hostIP: address } : {}) };
}

function normaliseRuntimeConfig(raw: JsonObject): JsonObject | undefined {
  const rc = raw['runtimeConfig'];
  if (rc === undefined) return undefined;
  if (!isObject(rc)) throw invalidConfig('runtimeConfig is not an object');
  const mappings = rc['portMappings'];
  if (mappings === undefined) return rc;
  if (mappings !== null && !Array.isArray(mappings)) throw invalidConfig('runtimeConfig.portMappings is not a list');
  if ((mappings ?? []).length > MAX_PORT_MAPPINGS) throw invalidConfig(`runtimeConfig.portMappings has more than ${MAX_PORT_MAPPINGS} entries`);
  return { ...rc, portMappings: (mappings ?? []).map((m, i) => portMapping(m, `runtimeConfig.portMappings[${i}]`)) };
}

function attachmentList(raw: unknown, key: string): Attachment[] {
  if (!Array.isArray(raw)) throw invalidConfig(`${key} is not a list`);
  if (raw.length > MAX_ATTACHMENTS) throw invalidConfig(`${key} has more than ${MAX_ATTACHMENTS} entries`);
  return raw.map((a, i) => {
    const containerID = isObject(a) ? a['containerID'] : undefined;
    const ifname = isObject(a) ? a['ifname'] : undefined;
    if (typeof containerID !== 'string' || !CONTAINER_ID_RE.test(containerID)) throw invalidConfig(`${key}[${i}].containerID ${quote(containerID)} is not a container id`);
    if (typeof ifname !== 'string' || !isValidIfName(ifname)) throw invalidConfig(`${key}[${i}].ifname ${quote(ifname)} is not an interface name`);
    return { containerID, ifname };
  });
}

/**
 * GC's attachments still in use. libcni sends the list under both names (the spec first named it
 * `cni.dev/attachments`); both are read and merged, so that what either keeps is kept. A GC that
 * names neither is refused: taken as "none in use", it would remove every pod's port.
 */
function validAttachments(raw: JsonObject): Attachment[] {
  const lists = ATTACHMENT_KEYS.filter((k) => raw[k] !== undefined).map((k) => attachmentList(raw[k], k));
  if (lists.length === 0) throw invalidConfig(`GC needs the attachments still in use in ${ATTACHMENT_KEYS.join(' or ')}`);
  const merged = new Map(lists.flat().map((a) => [`${a.containerID}\n${a.ifname}`, a]));
  return [...merged.values()];
}

/** The checked configuration, in the form the node daemon gets it (code 1, 2, 6 or 7 otherwise). */
export function readNetConf(stdin: string, command: CniCommandName): NetConf {
  const raw = decodeConfig(stdin);
  const cniVersion = checkVersion(raw, command);
  checkIdentity(raw);
  checkDaemonSocket(raw);
  const conf: NetConf = { ...raw, cniVersion, name: raw['name'] as string, type: raw['type'] as string };
  const runtimeConfig = normaliseRuntimeConfig(raw);
  if (runtimeConfig) conf['runtimeConfig'] = runtimeConfig;
  if (command === 'GC') {
    delete conf['cni.dev/attachments'];
    conf['cni.dev/valid-attachments'] = validAttachments(raw);
  }
  return conf;
}
