/**
 * loadConfig: command line + kuryr.conf (+ clouds.yaml / OS_* for Keystone) → one validated,
 * deeply frozen `KuryrConfig`. Nothing else in Kuryr reads config files or the environment.
 *
 * Where the Keystone credentials come from (one source, never mixed):
 *   1. kuryr.conf, when `[neutron] auth_url` is set (in `[neutron]` or in the section its
 *      `auth_section` names) — as upstream kuryr-libnetwork.
 *   2. otherwise clouds.yaml (+ secure.yaml), when a cloud is named by `--os-cloud` or `OS_CLOUD`
 *      (the command line wins) — as openstacksdk finds it.
 *   3. otherwise the `OS_*` environment variables, when `OS_AUTH_URL` is set.
 *   4. otherwise: KURYR_ERR_CONFIG "no Keystone auth_url ...".
 * The session options (`cafile`, `certfile`, `keyfile`, `insecure`, `timeout`, `region_name`,
 * `endpoint_type`) written in kuryr.conf `[neutron]` always win; when not written there, the chosen
 * source's values are used (clouds.yaml `cacert`/`verify`/`region_name`/`interface`, `OS_CACERT`,
 * `OS_REGION_NAME`, `OS_INTERFACE`, ...), then the defaults.
 *
 * Options from files override the environment defaults (`OS_KURYR_URI`, `CAPABILITY_SCOPE`), and the
 * command line (`--debug`, `--log-file`, `--log-dir`) overrides files.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { parseServerArgs } from './args.js';
import { buildAuth } from './auth.js';
import { AUTH_KEYS, authFromCloud, authFromEnv, type AuthInput, type AuthKey, type SessionInput } from './auth-sources.js';
import {
  configFileList,
  DEFAULT_CONFIG_DIRS,
  DEFAULT_CONFIG_FILES,
  firstSecretIn,
  MAIN_CONFIG_FILE,
  permissionWarning,
  readConfigFile,
  type ReadFile,
} from './files.js';
import { ConfStore, configError, OptionReader, redactUrl } from './options.js';
import type { BindingConfig, KuryrConfig, NeutronConfig, PortDriverName } from './types.js';
import { unknownOptionWarnings } from './warnings.js';

export interface LoadOptions {
  /** Called with each warning as it is found (they are also in `config.warnings`). */
  onWarning?: (message: string) => void;
  /** For `./clouds.yaml`; default process.cwd(). */
  cwd?: string;
  /** Default for `[DEFAULT] hostname`; default os.hostname(). */
  hostname?: string;
  /** oslo's default config files (the first existing is read when no --config-file is given). */
  defaultConfigFiles?: readonly string[];
  /** oslo's default config dirs (the first existing is read when no --config-dir is given). */
  defaultConfigDirs?: readonly string[];
  /** Replaces openstacksdk's clouds.yaml directories (cwd, ~/.config/openstack, /etc/openstack). */
  cloudsSearchDirs?: readonly string[];
  /** Ignore command-line arguments that are not config options (instead of failing). */
  allowUnknownArgs?: boolean;
  /** Log file name under --log-dir when no log_file is set (oslo.log uses the program name). */
  binaryName?: string;
}

const PORT_DRIVER_PREFIX = 'kuryr_libnetwork.port_driver.drivers.';
const PORT_DRIVERS: readonly PortDriverName[] = ['veth', 'nested', 'vlan', 'sriov'];
const BINDING_PREFIX = 'kuryr.lib.binding.drivers.';
const BINDING_DEFAULTS: readonly BindingConfig['defaultDriver'][] = ['veth', 'macvlan', 'ipvlan', 'vlan'];
const BINDING_ENABLED: readonly string[] = [...BINDING_DEFAULTS, 'hw_veb'];
/** Upstream `BINDING_DRIVERS` of each port driver: one of them must be enabled. */
const PORT_DRIVER_BINDINGS: Record<PortDriverName, readonly string[]> = {
  veth: ['veth'],
  nested: ['macvlan', 'ipvlan'],
  vlan: ['vlan'],
  sriov: ['hw_veb'],
};

/** Synchronous: reads a handful of small files once at startup. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, options: LoadOptions = {}): KuryrConfig {
  const { warnings, warn } = warningList(options.onWarning);
  const args = parseServerArgs(argv, { allowUnknown: options.allowUnknownArgs });
  const paths = configFileList(args, env, {
    files: options.defaultConfigFiles ?? DEFAULT_CONFIG_FILES,
    dirs: options.defaultConfigDirs ?? DEFAULT_CONFIG_DIRS,
  });
  const files: ReadFile[] = paths.map(readConfigFile);
  const store = mergeFiles(files, warn);
  const mainFile = args.configFiles[0] ?? paths[0] ?? MAIN_CONFIG_FILE;
  const r = new OptionReader({ store, env, mainFile });
  const authGroup = authGroupOf(r, store, mainFile);
  for (const w of unknownOptionWarnings(store, authGroup)) warn(w);

  const conf = buildDefaults(r, args, options, warn);
  const binding = buildBinding(r, conf.defaultPortDriver, conf.enabledPortDrivers);
  const source = authSource(r, { authGroup, mainFile, cloudName: args.osCloud ?? (env.OS_CLOUD || undefined), env, options }, warn);
  const auth = buildAuth(source, warn);
  const neutron = buildNeutron(r, auth, source.kind === 'conf' ? {} : source.session, warn);
  warnReadableSecrets(files, source, warn);

  const config: KuryrConfig = {
    ...conf,
    ...buildExtras(r),
    sources: [...paths, source.kind === 'conf' ? `Keystone credentials from kuryr.conf [${authGroup}]` : `Keystone credentials from ${source.label}`],
    neutron,
    binding,
    warnings,
  };
  return deepFreeze(config);
}

/** Warnings in the order found, each once; `onWarning` hears each as it is found. */
function warningList(onWarning: ((message: string) => void) | undefined): { warnings: string[]; warn: (msg: string) => void } {
  const warnings: string[] = [];
  const warn = (msg: string) => {
    if (warnings.includes(msg)) return;
    warnings.push(msg);
    onWarning?.(msg);
  };
  return { warnings, warn };
}

/** The files' options, later files winning as in oslo.config; an option set twice in one file is warned about. */
function mergeFiles(files: readonly ReadFile[], warn: (msg: string) => void): ConfStore {
  const store = new ConfStore();
  for (const f of files) {
    for (const [section, entries] of f.ini.sections) {
      for (const [key, e] of entries) {
        if (e.values.length > 1) warn(`kuryr.conf: [${section}] ${key} is set ${e.values.length} times in ${f.ini.path}; the last one (line ${e.line}) is used`);
      }
    }
    store.merge(f.ini);
  }
  return store;
}

/** auth_section: keystoneauth reads auth_type and the plugin options from that section instead of [neutron]. */
function authGroupOf(r: OptionReader, store: ConfStore, mainFile: string): string {
  const authSectionRaw = r.str('neutron', 'auth_section')?.trim();
  const authGroup = authSectionRaw ? authSectionRaw.toLowerCase() : 'neutron';
  if (authGroup !== 'neutron' && !store.hasSection(authGroup)) {
    const o = r.origin('neutron', 'auth_section');
    throw configError(`kuryr.conf: [neutron] auth_section = "${authSectionRaw}" names a section that no config file has (${o?.where ?? mainFile})`);
  }
  return authGroup;
}

interface AuthSearch {
  authGroup: string;
  mainFile: string;
  /** `--os-cloud`, else `OS_CLOUD`. */
  cloudName: string | undefined;
  env: NodeJS.ProcessEnv;
  options: LoadOptions;
}

/** Where the Keystone credentials come from: see the precedence at the top of this file. */
function authSource(r: OptionReader, s: AuthSearch, warn: (msg: string) => void): AuthInput {
  const confAuth = authFromConf(r, s.authGroup, s.mainFile);
  if (confAuth.values.auth_url !== undefined) {
    if (s.cloudName) warn(`clouds.yaml: cloud "${s.cloudName}" is ignored: [${s.authGroup}] auth_url is set in kuryr.conf, which takes precedence`);
    return confAuth;
  }
  let source: AuthInput;
  if (s.cloudName) {
    source = authFromCloud(s.cloudName, { env: s.env, cwd: s.options.cwd ?? process.cwd(), dirs: s.options.cloudsSearchDirs }, warn);
  } else if (s.env.OS_AUTH_URL) {
    source = authFromEnv(s.env);
  } else {
    throw configError(`no Keystone auth_url: set [neutron] auth_url in ${s.mainFile}, or OS_AUTH_URL, or a cloud in clouds.yaml (--os-cloud or OS_CLOUD)`);
  }
  const confKeys = Object.keys(confAuth.values).filter((k) => k !== 'auth_type');
  if (confKeys.length > 0) {
    warn(`kuryr.conf: [${s.authGroup}] has ${confKeys.join(', ')} but no auth_url, so they are ignored; Keystone credentials come from ${source.label}`);
  }
  return source;
}

/** Credentials in files others can read. */
function warnReadableSecrets(files: readonly ReadFile[], source: AuthInput, warn: (msg: string) => void): void {
  for (const f of files) {
    const holds = firstSecretIn(f.ini);
    const w = holds && permissionWarning('kuryr.conf', f.ini.path, f.mode, holds);
    if (w) warn(w);
  }
  if (source.kind !== 'cloud') return;
  for (const path of source.files) {
    const holds = secretKeysInYaml(readFileSync(path, 'utf8'));
    const w = holds.length > 0 && permissionWarning('clouds.yaml', path, statSync(path).mode, holds.join(', '));
    if (w) warn(w);
  }
}

/** Options Kuryr-TS adds to upstream's: reconciliation, metrics, Docker's API, pools, port forwarding. */
function buildExtras(r: OptionReader): Pick<KuryrConfig, 'callTimeout' | 'metricsListen' | 'dockerPluginTls' | 'gcOnStart' | 'gcInterval' | 'docker' | 'vifPool' | 'portForwarding' | 'cniDaemon'> {
  const metricsListen = (r.str('DEFAULT', 'metrics_listen') ?? '').trim();
  if (metricsListen && !/^(\[[0-9a-fA-F:]+\]|[^:]+):\d{1,5}$/.test(metricsListen)) {
    throw configError(`kuryr.conf: [DEFAULT] metrics_listen = "${metricsListen}" is not host:port (${r.lookup('DEFAULT', 'metrics_listen')?.origin.where ?? 'default'})`);
  }
  const dockerHost = r.str('docker', 'docker_host')!.trim();
  if (!/^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+)$/.test(dockerHost)) {
    throw configError(`kuryr.conf: [docker] docker_host = "${dockerHost}" is not unix:///path or tcp://host:port (${r.lookup('docker', 'docker_host')?.origin.where ?? 'default'})`);
  }
  const opt = (group: string, name: string) => r.str(group, name)?.trim() || undefined;
  return {
    callTimeout: r.int('DEFAULT', 'call_timeout')!,
    metricsListen,
    dockerPluginTls: {
      ...(opt('DEFAULT', 'docker_ca_file') ? { caFile: opt('DEFAULT', 'docker_ca_file') } : {}),
      ...(opt('DEFAULT', 'docker_client_cert_file') ? { certFile: opt('DEFAULT', 'docker_client_cert_file') } : {}),
      ...(opt('DEFAULT', 'docker_client_key_file') ? { keyFile: opt('DEFAULT', 'docker_client_key_file') } : {}),
    },
    gcOnStart: r.bool('DEFAULT', 'gc_on_start'),
    gcInterval: r.int('DEFAULT', 'gc_interval')!,
    docker: {
      host: dockerHost,
      ...(opt('docker', 'tls_ca_file') ? { tlsCaFile: opt('docker', 'tls_ca_file') } : {}),
      ...(opt('docker', 'tls_cert_file') ? { tlsCertFile: opt('docker', 'tls_cert_file') } : {}),
      ...(opt('docker', 'tls_key_file') ? { tlsKeyFile: opt('docker', 'tls_key_file') } : {}),
      tlsVerify: r.bool('docker', 'tls_verify'),
      setDnsName: r.bool('docker', 'set_dns_name'),
    },
    vifPool: {
      enabled: r.bool('vif_pool', 'enabled'),
      min: r.int('vif_pool', 'ports_pool_min')!,
      max: r.int('vif_pool', 'ports_pool_max')!,
      batch: r.int('vif_pool', 'ports_pool_batch')!,
      updateFrequency: r.int('vif_pool', 'ports_pool_update_frequency')!,
    },
    portForwarding: { floatingIp: (r.str('port_forwarding', 'floating_ip') ?? '').trim() },
    cniDaemon: cniDaemonOptions(r),
  };
}

/** `[cni_daemon]`: the socket must be an absolute path (the daemon runs as root and replaces what is there). */
function cniDaemonOptions(r: OptionReader): KuryrConfig['cniDaemon'] {
  const socketPath = (r.str('cni_daemon', 'socket_path') ?? '').trim();
  const enabled = r.bool('cni_daemon', 'enabled');
  if (enabled && !/^\/[^\0]+$/.test(socketPath)) {
    throw configError(`kuryr.conf: [cni_daemon] socket_path = "${socketPath}" is not an absolute path (${r.lookup('cni_daemon', 'socket_path')?.origin.where ?? 'default'})`);
  }
  return { enabled, socketPath };
}

type Defaults = Omit<KuryrConfig, 'sources' | 'neutron' | 'binding' | 'warnings' | 'callTimeout' | 'metricsListen' | 'dockerPluginTls' | 'gcOnStart' | 'gcInterval' | 'docker' | 'vifPool' | 'portForwarding' | 'cniDaemon'> & {
  defaultPortDriver: PortDriverName;
  enabledPortDrivers: PortDriverName[];
};

function checkHttpUrl(r: OptionReader, group: string, name: string, value: string): void {
  let ok = false;
  try {
    const u = new URL(value);
    ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok) {
    const raw = r.lookup(group, name);
    throw configError(`kuryr.conf: [${group}] ${name} = "${redactUrl(value)}" is not an http(s) URL (${raw?.origin.where ?? 'default'})`);
  }
}

/**
 * The TCP listener's scheme must say what it serves: an https:// URI without enable_ssl would be a
 * plaintext listener Docker believes encrypted, and enable_ssl on http:// the reverse.
 */
function checkListenerSecurity(
  r: OptionReader,
  o: { kuryrUri: string; enableSsl: boolean; sslCaFile: string | undefined; sslAllowedClientNames: string[] },
): void {
  const where = (name: string) => r.lookup('DEFAULT', name)?.origin.where ?? 'default';
  const https = o.kuryrUri.startsWith('https:');
  if (https && !o.enableSsl) {
    throw configError(`kuryr.conf: [DEFAULT] kuryr_uri = "${redactUrl(o.kuryrUri)}" is https but enable_ssl is False; set enable_ssl = True (with ssl_cert_file and ssl_key_file) or use http:// (${where('kuryr_uri')})`);
  }
  if (o.enableSsl && !https) {
    const uri = o.kuryrUri ? `is "${redactUrl(o.kuryrUri)}"` : 'is empty';
    throw configError(`kuryr.conf: [DEFAULT] enable_ssl is True but kuryr_uri ${uri}; TLS is served only on an https:// kuryr_uri (${where('enable_ssl')})`);
  }
  if (o.sslAllowedClientNames.length > 0 && !(o.enableSsl && o.sslCaFile)) {
    throw configError(`kuryr.conf: [DEFAULT] ssl_allowed_client_names needs enable_ssl = True and ssl_ca_file: without client certificates there are no names to check (${where('ssl_allowed_client_names')})`);
  }
}

function buildDefaults(r: OptionReader, args: ReturnType<typeof parseServerArgs>, options: LoadOptions, warn: (m: string) => void): Defaults {
  const D = 'DEFAULT';
  const listener = buildListener(r, warn);
  const { defaultPortDriver, enabledPortDrivers } = buildPortDrivers(r);
  const logFile = logFileOf(args.logDir ?? (r.str(D, 'log_dir') || undefined), args.logFile ?? (r.str(D, 'log_file') || undefined), options.binaryName);
  const hostname = (r.str(D, 'hostname') || options.hostname || osHostname()).trim();
  if (!hostname) throw configError(`kuryr.conf: [DEFAULT] hostname is empty and the system host name is unknown; set [DEFAULT] hostname`);

  const out: Defaults = {
    ...listener,
    capabilityScope: r.str(D, 'capability_scope') as 'local' | 'global',
    localDefaultAddressSpace: r.str(D, 'local_default_address_space')!,
    globalDefaultAddressSpace: r.str(D, 'global_default_address_space')!,
    processExternalConnectivity: r.bool(D, 'process_external_connectivity'),
    subnetpoolNamePrefix: r.str(D, 'subnetpool_name_prefix')!,
    socketPath: r.str(D, 'socket_path')!.trim(),
    pluginSpecDir: r.str(D, 'plugin_spec_dir')!,
    debug: args.debug ?? r.bool(D, 'debug'),
    hostname,
    defaultPortDriver,
    enabledPortDrivers,
  };
  if (logFile) out.logFile = logFile;
  return out;
}

type ListenerOptions = Pick<Defaults, 'kuryrUri' | 'enableSsl' | 'sslCertFile' | 'sslKeyFile' | 'sslCaFile' | 'sslAllowedClientNames'>;

/** The TCP listener: kuryr_uri and its TLS files, which must exist when enable_ssl is on. */
function buildListener(r: OptionReader, warn: (m: string) => void): ListenerOptions {
  const D = 'DEFAULT';
  // Empty turns the TCP listener off: Docker then finds Kuryr only on its unix socket.
  const kuryrUri = r.str(D, 'kuryr_uri') ?? '';
  if (kuryrUri) checkHttpUrl(r, D, 'kuryr_uri', kuryrUri);
  const enableSsl = r.bool(D, 'enable_ssl');
  const sslCaFile = r.str(D, 'ssl_ca_file') || undefined;
  const sslAllowedClientNames = r.list(D, 'ssl_allowed_client_names');
  checkListenerSecurity(r, { kuryrUri, enableSsl, sslCaFile, sslAllowedClientNames });
  if (enableSsl) {
    for (const name of ['ssl_cert_file', 'ssl_key_file', ...(sslCaFile ? ['ssl_ca_file'] : [])]) {
      const v = r.lookup(D, name)!;
      if (!existsSync(v.value)) {
        throw configError(`kuryr.conf: [DEFAULT] ${name} = "${v.value}" does not exist, and enable_ssl is True (${v.origin.where})`);
      }
    }
  } else if (sslCaFile) {
    warn('kuryr.conf: [DEFAULT] ssl_ca_file is set but enable_ssl is False; it is ignored');
  }
  return { kuryrUri, enableSsl, sslCertFile: r.str(D, 'ssl_cert_file')!, sslKeyFile: r.str(D, 'ssl_key_file')!, sslAllowedClientNames, ...(sslCaFile ? { sslCaFile } : {}) };
}

/** default_port_driver and enabled_port_drivers, by upstream's entry-point names or short names; the default must be enabled. */
function buildPortDrivers(r: OptionReader): Pick<Defaults, 'defaultPortDriver' | 'enabledPortDrivers'> {
  const D = 'DEFAULT';
  const portDriver = (name: string, raw: string): PortDriverName => {
    const short = raw.startsWith(PORT_DRIVER_PREFIX) ? raw.slice(PORT_DRIVER_PREFIX.length) : raw;
    if (!(PORT_DRIVERS as readonly string[]).includes(short)) {
      const what = name === 'enabled_port_drivers' ? `has "${raw}", which is` : 'is';
      throw r.bad(D, { name, kind: 'str' }, r.lookup(D, name)!, `${what} not one of ${PORT_DRIVERS.join(', ')} (or ${PORT_DRIVER_PREFIX}<name>)`);
    }
    return short as PortDriverName;
  };
  const defaultPortDriver = portDriver('default_port_driver', r.str(D, 'default_port_driver')!.trim());
  const enabledPortDrivers = r.list(D, 'enabled_port_drivers').map((v) => portDriver('enabled_port_drivers', v));
  if (!enabledPortDrivers.includes(defaultPortDriver)) {
    const o = r.lookup(D, 'default_port_driver')!.origin.where;
    throw configError(`kuryr.conf: [DEFAULT] default_port_driver = ${defaultPortDriver} is not in [DEFAULT] enabled_port_drivers (${enabledPortDrivers.join(', ') || 'empty'}); add it there (${o})`);
  }
  return { defaultPortDriver, enabledPortDrivers };
}

/** oslo.log `_get_log_file_path`: log_file under log_dir, or `<program>.log` in log_dir alone. */
function logFileOf(logDir: string | undefined, logFile: string | undefined, binaryName = 'kuryr-server'): string | undefined {
  if (logFile) return logDir ? join(logDir, logFile) : logFile;
  return logDir ? join(logDir, `${binaryName}.log`) : undefined;
}

function buildBinding(r: OptionReader, portDriver: PortDriverName, enabledPortDrivers: PortDriverName[]): BindingConfig {
  const B = 'binding';
  const shortName = (name: string, raw: string, allowed: readonly string[]): string => {
    const short = raw.startsWith(BINDING_PREFIX) ? raw.slice(BINDING_PREFIX.length) : raw;
    if (!allowed.includes(short)) {
      const what = name === 'enabled_drivers' ? `has "${raw}", which is` : 'is';
      throw r.bad(B, { name, kind: 'str' }, r.lookup(B, name)!, `${what} not one of ${allowed.join(', ')} (or ${BINDING_PREFIX}<name>)`);
    }
    return short;
  };
  const defaultDriver = shortName('default_driver', r.str(B, 'default_driver')!.trim(), BINDING_DEFAULTS) as BindingConfig['defaultDriver'];
  const enabledDrivers = r.list(B, 'enabled_drivers').map((v) => shortName('enabled_drivers', v, BINDING_ENABLED));
  const where = (name: string) => r.lookup(B, name)?.origin.where ?? 'default';
  if (!enabledDrivers.includes(defaultDriver)) {
    throw configError(`kuryr.conf: [binding] default_driver = ${defaultDriver} is not in [binding] enabled_drivers (${enabledDrivers.join(', ') || 'empty'}); add it there (${where('default_driver')})`);
  }
  const checked = new Set<PortDriverName>([portDriver, ...(enabledPortDrivers.includes('sriov') ? ['sriov' as const] : [])]);
  for (const pd of checked) {
    const needs = PORT_DRIVER_BINDINGS[pd];
    if (!needs.some((n) => enabledDrivers.includes(n))) {
      throw configError(`kuryr.conf: port driver ${pd} needs ${needs.join(' or ')} in [binding] enabled_drivers (have ${enabledDrivers.join(', ') || 'none'}) (${where('enabled_drivers')})`);
    }
  }
  const linkIface = r.str(B, 'link_iface')!.trim();
  if ((portDriver === 'nested' || portDriver === 'vlan') && !linkIface) {
    throw configError(`kuryr.conf: [DEFAULT] default_port_driver = ${portDriver} needs [binding] link_iface (the VM's interface, e.g. eth0)`);
  }
  return { vethDstPrefix: r.str(B, 'veth_dst_prefix')!, defaultDriver, enabledDrivers, linkIface };
}

function authFromConf(r: OptionReader, group: string, mainFile: string): AuthInput {
  const defs = group === 'neutron' ? 'neutron' : 'auth';
  const values: Partial<Record<AuthKey, string>> = {};
  for (const key of AUTH_KEYS) {
    const v = r.lookup(group, key, defs);
    if (v && !v.fromDefault && v.value !== '') values[key] = v.value;
  }
  return {
    kind: 'conf',
    values,
    setting: (key) => `[${group}] ${key} in ${mainFile}`,
    origin: (key) => r.origin(group, key, defs)?.where ?? mainFile,
    session: {},
    label: `kuryr.conf [${group}]`,
    files: [],
  };
}

/** Nova's own default: a container never waits forever for a port that never becomes ACTIVE. */
export const VIF_PLUGGING_TIMEOUT_FATAL = 300;

function vifPluggingTimeout(r: OptionReader, fatal: boolean, warn: (m: string) => void): number {
  const seconds = r.int('neutron', 'vif_plugging_timeout')!;
  if (!fatal || seconds > 0) return seconds;
  if (r.isSet('neutron', 'vif_plugging_timeout')) {
    warn(`kuryr.conf: [neutron] vif_plugging_timeout = 0 would let a container wait forever for its port with vif_plugging_is_fatal = True; using ${VIF_PLUGGING_TIMEOUT_FATAL} s (${r.origin('neutron', 'vif_plugging_timeout')?.where ?? 'default'})`);
  }
  return VIF_PLUGGING_TIMEOUT_FATAL;
}

function buildNeutron(r: OptionReader, auth: NeutronConfig['auth'], fallback: SessionInput, warn: (m: string) => void): NeutronConfig {
  const N = 'neutron';
  const pick = <T>(name: string, fromConf: () => T, fb: T | undefined): T => (r.isSet(N, name) || fb === undefined ? fromConf() : fb);
  const optStr = (name: string) => r.str(N, name) || undefined;

  const tls: NeutronConfig['tls'] = { insecure: pick('insecure', () => r.bool(N, 'insecure'), fallback.insecure) };
  const cafile = pick('cafile', () => optStr('cafile'), fallback.cafile);
  const certfile = pick('certfile', () => optStr('certfile'), fallback.certfile);
  const keyfile = pick('keyfile', () => optStr('keyfile'), fallback.keyfile);
  if (cafile) tls.cafile = cafile;
  if (certfile) tls.certfile = certfile;
  if (keyfile) tls.keyfile = keyfile;

  const vifPluggingIsFatal = r.bool(N, 'vif_plugging_is_fatal');
  const out: NeutronConfig = {
    auth,
    tls,
    timeout: pick('timeout', () => r.int(N, 'timeout')!, fallback.timeout),
    endpointType: pick('endpoint_type', () => r.str(N, 'endpoint_type')!, fallback.endpointType) as NeutronConfig['endpointType'],
    defaultSubnetpoolV4: r.str(N, 'default_subnetpool_v4')!,
    defaultSubnetpoolV6: r.str(N, 'default_subnetpool_v6')!,
    enableDhcp: r.bool(N, 'enable_dhcp'),
    vifPluggingIsFatal,
    vifPluggingTimeout: vifPluggingTimeout(r, vifPluggingIsFatal, warn),
    allowOtherProjects: r.bool(N, 'allow_other_projects'),
    allowSharedNetworks: r.bool(N, 'allow_shared_networks'),
    maxConcurrentRequests: r.int(N, 'max_concurrent_requests')!,
  };
  const region = pick('region_name', () => optStr('region_name'), fallback.regionName);
  if (region) out.regionName = region;
  const override = optStr('endpoint_override');
  if (override) {
    checkHttpUrl(r, N, 'endpoint_override', override);
    out.endpointOverride = override;
  }
  return out;
}

/** Secret-looking keys written in a clouds.yaml / secure.yaml (any cloud), without parsing it again. */
function secretKeysInYaml(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/^\s*"?(password|token|application[_-]credential[_-]secret)"?\s*:\s*\S/gm)) found.add(m[1]!.replace(/-/g, '_'));
  return [...found];
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
