/**
 * The option table (upstream names, types and defaults: kuryr-libnetwork `config.py`, kuryr-lib
 * `config.py`, keystoneauth's session and auth options, oslo.log) and a reader that turns the merged
 * raw INI values into typed values the way oslo.config does: `$name` substitution, oslo booleans,
 * integers, comma lists and choices, with one error message per bad value naming option and file.
 */
import { KuryrError } from '../errors.js';
import type { IniFile } from './ini.js';

export type OptKind = 'str' | 'bool' | 'int' | 'list';

export interface OptDef {
  name: string;
  kind: OptKind;
  /** Raw default, as it would be written in the file. */
  default?: string;
  /** An environment variable whose value replaces the default (upstream `os.environ.get(...)`). */
  envDefault?: string;
  choices?: readonly string[];
  /** Never echoed in a message. */
  secret?: boolean;
  /** Old names oslo still accepts (a warning names the new one). */
  deprecatedNames?: readonly string[];
  min?: number;
  /** Applied to the raw value before the choices check (e.g. `publicURL` → `public`). */
  normalize?: (value: string) => string;
  /** Accepted for compatibility and has no effect here; `warn` says so when it is set. */
  ignored?: 'silent' | 'warn' | 'oslo.log';
  help?: string;
}

/** Catalog interface as keystoneauth accepts it: `publicURL`, `internalURL`, `adminURL` too. */
export function normalizeInterface(value: string): string {
  return value.trim().replace(/URL$/i, '').toLowerCase();
}

const s = (name: string, def?: string, extra: Partial<OptDef> = {}): OptDef => ({ name, kind: 'str', default: def, ...extra });
const b = (name: string, def: string, extra: Partial<OptDef> = {}): OptDef => ({ name, kind: 'bool', default: def, ...extra });

/** oslo.log options Kuryr-TS does not implement; setting one only earns a warning. */
const OSLO_LOG_IGNORED = [
  'verbose', 'use_syslog', 'syslog_log_facility', 'use_journal', 'use_json', 'use_stderr', 'use_eventlog',
  'log_config_append', 'log_date_format', 'watch_log_file', 'logging_context_format_string',
  'logging_default_format_string', 'logging_debug_format_suffix', 'logging_exception_prefix',
  'logging_user_identity_format', 'default_log_levels', 'publish_errors', 'instance_format', 'instance_uuid_format',
  'rate_limit_interval', 'rate_limit_burst', 'rate_limit_except_level', 'fatal_deprecations', 'log_rotation_type',
  'max_logfile_count', 'max_logfile_size_mb', 'log_rotate_interval', 'log_rotate_interval_type',
].map((n) => s(n, undefined, { ignored: 'oslo.log', help: 'oslo.log option; Kuryr logs JSON lines to log_file or stderr, so it has no effect here.' }));

export const DEFAULT_OPTS: readonly OptDef[] = [
  // Upstream's default is http://127.0.0.1:23750. Any local user, and any container in the host's
  // network namespace, can reach a TCP listener: the root-only unix socket is the default here.
  s('kuryr_uri', '', { envDefault: 'OS_KURYR_URI', help: 'URL Docker reaches the plugin on over TCP (empty: none; only the unix socket).' }),
  s('capability_scope', 'local', { envDefault: 'CAPABILITY_SCOPE', choices: ['local', 'global'], normalize: (v) => v.trim().toLowerCase(), help: 'Scope Kuryr reports to Docker: local (a network lives on one host) or global (Docker creates it on every host; they share one Neutron network).' }),
  s('local_default_address_space', 'no_address_space', { help: 'IPAM address space Docker gets for local-scope networks (Neutron has none).' }),
  s('global_default_address_space', 'no_address_space', { help: 'IPAM address space Docker gets for global-scope networks (Neutron has none).' }),
  s('default_port_driver', 'kuryr_libnetwork.port_driver.drivers.veth', { help: 'Port driver of new endpoints: veth (a host with a Neutron agent), nested or vlan (inside a Nova VM), bare or as kuryr_libnetwork.port_driver.drivers.<name>; sriov is refused at start.' }),
  { name: 'enabled_port_drivers', kind: 'list', default: 'kuryr_libnetwork.port_driver.drivers.veth', help: 'Port drivers that may be used; must include default_port_driver.' },
  b('process_external_connectivity', 'True', { help: 'Map exposed ports to a security group and published ports (-p) to floating IP port forwardings; False: EXPOSE is ignored and -p refused.' }),
  b('enable_ssl', 'False', { help: 'Serve https on kuryr_uri (which must then be https://) with ssl_cert_file and ssl_key_file.' }),
  s('ssl_cert_file', '/var/lib/kuryr/certs/cert.pem', { help: 'Certificate of the https listener (enable_ssl).' }),
  s('ssl_key_file', '/var/lib/kuryr/certs/key.pem', { help: 'Private key of ssl_cert_file.' }),
  s('ssl_ca_file', undefined, { help: 'CA bundle; when set, Docker must present a client certificate.' }),
  { name: 'ssl_allowed_client_names', kind: 'list', default: '', help: 'With ssl_ca_file: the client certificate subject common names (CN) served; empty: any the CA signed.' },
  s('subnetpool_name_prefix', 'kuryrPool', { help: 'Neutron subnet pools Kuryr creates are named <prefix>-<cidr>.' }),
  s('bindir', undefined, { ignored: 'warn', help: 'Kuryr-TS plugs ports itself; it runs no binding scripts' }),
  s('pybasedir', undefined, { ignored: 'silent', help: "Upstream's Python module directory; unused." }),
  s('deployment_type', 'baremetal', { ignored: 'silent', help: 'Upstream: baremetal or nested-containers; unused (default_port_driver decides).' }),
  s('port_driver', undefined, { ignored: 'warn', help: 'Deprecated and unused upstream; use default_port_driver.' }),
  b('debug', 'False', { envDefault: 'KURYR_DEBUG', help: 'Log at debug level.' }),
  s('log_file', undefined, { deprecatedNames: ['logfile'], help: 'Log to this file (relative to log_dir when that is set) instead of stderr.' }),
  s('log_dir', undefined, { deprecatedNames: ['logdir'], help: 'Directory of log_file; alone, Kuryr logs to <log_dir>/kuryr-server.log.' }),
  s('socket_path', '/run/docker/plugins/kuryr.sock', { help: 'Unix socket Docker discovers the plugin on, mode 0600 (the driver is named after the file: kuryr.sock is -d kuryr). Empty: none.' }),
  s('plugin_spec_dir', '/usr/lib/docker/plugins/kuryr', { help: "Where the discovery file (.json) for kuryr_uri is written; the directory's name is the Docker driver name." }),
  s('hostname', undefined, { envDefault: 'KURYR_HOSTNAME', help: "binding:host_id of the ports: the host name Neutron's agent knows this host by. Unset: this machine's host name." }),
  ...OSLO_LOG_IGNORED,
];

/** keystoneauth plugin options; read from [neutron] or from the section `auth_section` names. */
export const AUTH_OPTS: readonly OptDef[] = [
  s('auth_type', undefined, { deprecatedNames: ['auth_plugin'], help: 'keystoneauth plugin: password (v3password), token (v3token), v3applicationcredential (applicationcredential).' }),
  s('auth_url', undefined, { help: 'Keystone URL, e.g. http://controller:5000/v3.' }),
  s('username', undefined, { deprecatedNames: ['user_name'], help: 'User Kuryr authenticates as.' }),
  s('user_id', undefined, { help: 'ID of the user (instead of username).' }),
  s('password', undefined, { secret: true, help: "The user's password." }),
  s('user_domain_name', undefined, { help: "Name of the user's domain." }),
  s('user_domain_id', undefined, { help: "ID of the user's domain." }),
  s('project_name', undefined, { deprecatedNames: ['tenant_name'], help: 'Project Kuryr works in: its Neutron objects are created there.' }),
  s('project_id', undefined, { deprecatedNames: ['tenant_id'], help: 'ID of the project (instead of project_name).' }),
  s('project_domain_name', undefined, { help: "Name of the project's domain." }),
  s('project_domain_id', undefined, { help: "ID of the project's domain." }),
  s('domain_name', undefined, { help: 'Domain to scope the token to (instead of a project).' }),
  s('domain_id', undefined, { help: 'ID of the domain to scope the token to.' }),
  s('default_domain_name', undefined, { help: 'Domain name for the user and project when their own is not set.' }),
  s('default_domain_id', undefined, { help: 'Domain ID for the user and project when their own is not set.' }),
  s('system_scope', undefined, { help: 'System scope (e.g. all) instead of a project.' }),
  s('trust_id', undefined, { ignored: 'warn', help: 'Keystone trusts are not supported' }),
  s('token', undefined, { secret: true, help: 'Token, for token auth.' }),
  s('application_credential_id', undefined, { help: 'Application credential ID (v3applicationcredential).' }),
  s('application_credential_name', undefined, { help: 'Application credential name (with username or user_id).' }),
  s('application_credential_secret', undefined, { secret: true, help: "The application credential's secret." }),
];

export const NEUTRON_OPTS: readonly OptDef[] = [
  // kuryr-lib [neutron]
  b('enable_dhcp', 'True', { help: 'enable_dhcp of the subnets Kuryr creates.' }),
  s('default_subnetpool_v4', 'kuryr', { help: "Subnet pool IPv4 subnets come from when Docker names no subnet (the operator's; never deleted by Kuryr)." }),
  s('default_subnetpool_v6', 'kuryr6', { help: "Subnet pool IPv6 subnets come from when Docker names no subnet (the operator's; never deleted by Kuryr)." }),
  b('vif_plugging_is_fatal', 'False', { help: 'Fail the attach when the port is not ACTIVE within vif_plugging_timeout.' }),
  // Upstream: 0 waits forever. With vif_plugging_is_fatal, Kuryr uses VIF_PLUGGING_TIMEOUT_FATAL instead.
  { name: 'vif_plugging_timeout', kind: 'int', default: '0', min: 0, help: 'Seconds to wait for the port to become ACTIVE (0: forever; with vif_plugging_is_fatal, 0 means 300).' },
  s('region_name', undefined, { help: 'Region of the Neutron endpoint in the Keystone catalog.' }),
  s('endpoint_type', 'public', { choices: ['public', 'internal', 'admin'], normalize: normalizeInterface, help: 'Catalog interface of the Neutron endpoint: public, internal or admin (publicURL etc. accepted).' }),
  s('endpoint_override', undefined, { help: "Neutron URL to use instead of the catalog's." }),
  // keystoneauth session
  s('cafile', undefined, { help: 'CA bundle that verifies the https certificates of Keystone and Neutron.' }),
  s('certfile', undefined, { help: 'Client certificate presented to Keystone and Neutron.' }),
  s('keyfile', undefined, { help: 'Key of certfile.' }),
  b('insecure', 'False', { help: 'Do not verify the https certificates of Keystone and Neutron.' }),
  // keystoneauth has no default timeout; Kuryr uses 15 s so a dead Neutron fails a Docker call
  // well within Docker's 30 s plugin timeout instead of hanging it.
  { name: 'timeout', kind: 'int', default: '15', min: 1, help: 'Seconds one Keystone or Neutron request may take.' },
  b('collect_timing', 'False', { ignored: 'silent', help: 'keystoneauth session option; no effect here.' }),
  b('split_loggers', 'False', { ignored: 'silent', help: 'keystoneauth session option; no effect here.' }),
  s('auth_section', undefined, { help: 'Section the auth options are read from instead of [neutron] (e.g. keystone_authtoken).' }),
  // Kuryr-TS: project boundaries and load on Neutron.
  b('allow_other_projects', 'False', { help: "Let neutron.net.*, neutron.subnet.* and neutron.pool.* name other projects' objects (Kuryr's own project and shared ones otherwise)." }),
  b('allow_shared_networks', 'False', { help: 'Let -o neutron.net.shared=true create or adopt networks shared with every project.' }),
  { name: 'max_concurrent_requests', kind: 'int', default: '16', min: 1, help: 'Neutron requests in flight at once; more wait their turn.' },
  ...AUTH_OPTS,
];

export const BINDING_OPTS: readonly OptDef[] = [
  s('veth_dst_prefix', 'eth', { help: 'Name prefix of the interface inside the container (eth: eth0, eth1, ...).' }),
  s('default_driver', 'kuryr.lib.binding.drivers.veth', { deprecatedNames: ['driver'], help: 'Binding driver: veth; with the nested port driver macvlan or ipvlan; with vlan: vlan (bare or as kuryr.lib.binding.drivers.<name>).' }),
  { name: 'enabled_drivers', kind: 'list', default: 'kuryr.lib.binding.drivers.veth', help: 'Binding drivers that may be used (veth, macvlan, ipvlan, vlan, hw_veb); must include default_driver.' },
  s('link_iface', '', { help: "The VM's interface (nested, vlan): its MAC finds the VM's Neutron port, and containers' devices are its children." }),
];

/** Kuryr-TS additions: reconciliation, metrics and the bound on one Docker call. */
export const KURYR_OPTS: readonly OptDef[] = [
  { name: 'call_timeout', kind: 'int', default: '25', min: 1, help: 'Seconds one Docker call may take before it fails (Docker gives up at 30).' },
  s('metrics_listen', '', { help: 'host:port for Prometheus metrics (empty: off).' }),
  s('docker_ca_file', undefined, { help: "Written into the plugin's .json: the CA Docker verifies ssl_cert_file with." }),
  s('docker_client_cert_file', undefined, { help: "Written into the plugin's .json: the certificate Docker presents (needed with ssl_ca_file)." }),
  s('docker_client_key_file', undefined, { help: "Written into the plugin's .json: the key of docker_client_cert_file." }),
  b('gc_on_start', 'False', { help: 'Reconcile Neutron and host devices with Docker at start.' }),
  { name: 'gc_interval', kind: 'int', default: '0', min: 0, help: 'Seconds between reconciliations (0: never).' },
];

/** How Kuryr reaches Docker's own API (container names for DNS, reconciliation). */
export const DOCKER_OPTS: readonly OptDef[] = [
  s('docker_host', 'unix:///var/run/docker.sock', { envDefault: 'DOCKER_HOST', help: "Docker's API, read for DNS names and by kuryr gc: unix:///path or tcp://host:port." }),
  s('tls_ca_file', undefined, { help: "CA that verifies dockerd's certificate (tcp:// docker_host)." }),
  s('tls_cert_file', undefined, { help: 'Client certificate presented to dockerd (tcp:// docker_host).' }),
  s('tls_key_file', undefined, { help: 'Key of tls_cert_file.' }),
  b('tls_verify', 'True', { help: "Verify dockerd's certificate." }),
  b('set_dns_name', 'True', { help: "Set the Neutron port's dns_name from the container's host name." }),
];

/** Port pools, named as kuryr-kubernetes names them. */
export const VIF_POOL_OPTS: readonly OptDef[] = [
  b('enabled', 'False', { help: 'Pools on by default for every network (per network: -o kuryr.pool=true|false).' }),
  { name: 'ports_pool_min', kind: 'int', default: '5', min: 0, help: 'Free ports kept ready per network and host.' },
  { name: 'ports_pool_max', kind: 'int', default: '0', min: 0, help: '0: no maximum.' },
  { name: 'ports_pool_batch', kind: 'int', default: '10', min: 1, help: 'Ports created per Neutron bulk request.' },
  { name: 'ports_pool_update_frequency', kind: 'int', default: '20', min: 1, help: 'Seconds between refills.' },
];

/** Published ports (`-p`) as Neutron floating IP port forwardings. */
export const PORT_FORWARDING_OPTS: readonly OptDef[] = [
  s('floating_ip', '', { help: 'Address or ID of the floating IP published ports forward from (empty: -p is refused).' }),
];

/** The node daemon's CNI endpoint (Kubernetes pods through `kuryr-cni`); upstream kuryr-kubernetes' section name. */
export const CNI_DAEMON_OPTS: readonly OptDef[] = [
  b('enabled', 'False', { help: 'Also serve CNI requests from kuryr-cni (pods on Neutron ports) on socket_path.' }),
  s('socket_path', '/run/kuryr/cni.sock', { help: 'Unix socket kuryr-cni reaches the daemon on; mode 0600 (root only). Upstream listened on TCP 127.0.0.1:5036 instead.' }),
];

export const GROUPS: Readonly<Record<string, readonly OptDef[]>> = {
  DEFAULT: [...DEFAULT_OPTS, ...KURYR_OPTS],
  neutron: NEUTRON_OPTS,
  binding: BINDING_OPTS,
  docker: DOCKER_OPTS,
  vif_pool: VIF_POOL_OPTS,
  port_forwarding: PORT_FORWARDING_OPTS,
  cni_daemon: CNI_DAEMON_OPTS,
};

/** Options that were renamed or live elsewhere: `group/name` → hint. */
const NEUTRON_HINTS: Record<string, string> = {
  interface: '[neutron] endpoint_type',
  valid_interfaces: '[neutron] endpoint_type',
  ca_file: '[neutron] cafile',
  ca_cert: '[neutron] cafile',
  os_cacert: '[neutron] cafile',
  cacert: '[neutron] cafile',
  cert_file: '[neutron] certfile',
  key_file: '[neutron] keyfile',
  auth_uri: '[neutron] auth_url',
  www_authenticate_uri: '[neutron] auth_url',
  admin_user: '[neutron] username',
  admin_password: '[neutron] password',
  admin_tenant_name: '[neutron] project_name',
  admin_token: '[neutron] token',
  auth_strategy: '[neutron] auth_type',
  url: '[neutron] endpoint_override',
  endpoint: '[neutron] endpoint_override',
  neutron_uri: '[neutron] endpoint_override',
  region: '[neutron] region_name',
  os_region_name: '[neutron] region_name',
  api_insecure: '[neutron] insecure',
  ssl_insecure: '[neutron] insecure',
  verify: '[neutron] insecure (inverted)',
  driver: '[binding] default_driver',
  default_driver: '[binding] default_driver',
  enabled_drivers: '[binding] enabled_drivers',
};

export const RENAMED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  DEFAULT: {
    neutron_uri: '[neutron] endpoint_override',
    auth_url: '[neutron] auth_url',
    region_name: '[neutron] region_name',
    enable_dhcp: '[neutron] enable_dhcp',
    default_subnetpool_v4: '[neutron] default_subnetpool_v4',
    default_subnetpool_v6: '[neutron] default_subnetpool_v6',
    veth_dst_prefix: '[binding] veth_dst_prefix',
    link_iface: '[binding] link_iface',
    binding_driver: '[binding] default_driver',
    enabled_binding_drivers: '[binding] enabled_drivers',
    port_driver_name: '[DEFAULT] default_port_driver',
    ssl_ca_cert_file: '[DEFAULT] ssl_ca_file',
    socket: '[DEFAULT] socket_path',
  },
  neutron: NEUTRON_HINTS,
  binding: {
    veth_prefix: '[binding] veth_dst_prefix',
    link_interface: '[binding] link_iface',
    default_port_driver: '[DEFAULT] default_port_driver',
  },
  // Sections of kuryr before it moved to keystoneauth.
  neutron_client: { ...NEUTRON_HINTS, default_subnetpool_v4: '[neutron] default_subnetpool_v4', default_subnetpool_v6: '[neutron] default_subnetpool_v6', enable_dhcp: '[neutron] enable_dhcp' },
  keystone_client: NEUTRON_HINTS,
};

/** `group` is a section name, or `auth` for the auth options read from an `auth_section`. */
export function findOpt(group: string, name: string): OptDef | undefined {
  const defs = group === 'auth' ? AUTH_OPTS : GROUPS[group];
  return defs?.find((o) => o.name === name);
}

/** Where a raw value came from. */
export interface Origin {
  /** For messages: "/etc/kuryr/kuryr.conf:12", "environment OS_KURYR_URI", "default". */
  where: string;
  /** The file, when it came from one. */
  path?: string;
}

export interface RawValue {
  value: string;
  origin: Origin;
  /** The name it was written under (differs for a deprecated name). */
  writtenAs: string;
}

const TRUE_VALUES = ['true', '1', 'on', 'yes'];
const FALSE_VALUES = ['false', '0', 'off', 'no'];

/** oslo.config's Boolean type. */
export function parseOsloBool(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (TRUE_VALUES.includes(v)) return true;
  if (FALSE_VALUES.includes(v)) return false;
  return undefined;
}

/** oslo.config's List type, without bounds: comma-separated, trimmed, empty items dropped. */
export function parseOsloList(value: string): string[] {
  return value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

export const configError = (msg: string) => new KuryrError('KURYR_ERR_CONFIG', msg);

/** Removes user:password@ from a URL-looking string before it goes into a message. */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** The merged contents of every config file read, later files overriding earlier ones. */
export class ConfStore {
  private readonly groups = new Map<string, Map<string, RawValue>>();

  merge(file: IniFile): void {
    for (const [section, entries] of file.sections) {
      let g = this.groups.get(section);
      if (!g) this.groups.set(section, (g = new Map()));
      for (const [key, entry] of entries) {
        g.set(key, { value: entry.value, writtenAs: key, origin: { where: `${file.path}:${entry.line}`, path: file.path } });
      }
    }
  }

  sectionNames(): string[] {
    return [...this.groups.keys()];
  }

  keys(group: string): string[] {
    return [...(this.groups.get(group)?.keys() ?? [])];
  }

  hasSection(group: string): boolean {
    return this.groups.has(group);
  }

  /** The raw value of an option under its name, else under a deprecated name. */
  raw(group: string, name: string, deprecatedNames: readonly string[] = []): RawValue | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    for (const n of [name, ...deprecatedNames]) {
      const v = g.get(n);
      if (v) return v;
    }
    return undefined;
  }
}

export interface ReadContext {
  store: ConfStore;
  env: NodeJS.ProcessEnv;
  /** Named in messages when an option is missing: the file the user should edit. */
  mainFile: string;
}

const MAX_SUBSTITUTION_DEPTH = 10;

/**
 * Reads typed option values. `group` is the INI section; `defsGroup` the option table to use
 * (an `auth_section` target is read with the auth options).
 */
export class OptionReader {
  constructor(private readonly ctx: ReadContext) {}

  /** Explicitly set in a file (under its name or a deprecated one)? */
  isSet(group: string, name: string, defsGroup = group): boolean {
    const def = this.def(defsGroup, name);
    return this.ctx.store.raw(group, name, def.deprecatedNames) !== undefined;
  }

  origin(group: string, name: string, defsGroup = group): Origin | undefined {
    const def = this.def(defsGroup, name);
    return this.ctx.store.raw(group, name, def.deprecatedNames)?.origin;
  }

  str(group: string, name: string, defsGroup = group): string | undefined {
    const r = this.lookup(group, name, defsGroup);
    if (!r) return undefined;
    const def = this.def(defsGroup, name);
    const value = def.normalize ? def.normalize(r.value) : r.value;
    if (def.choices && !def.choices.includes(value)) {
      throw this.bad(group, def, r, `is not one of ${def.choices.join(', ')}`);
    }
    return value;
  }

  bool(group: string, name: string, defsGroup = group): boolean {
    const r = this.lookup(group, name, defsGroup);
    const def = this.def(defsGroup, name);
    if (!r) return false;
    const v = parseOsloBool(r.value);
    if (v === undefined) throw this.bad(group, def, r, 'is not a boolean (true/false, yes/no, on/off, 1/0)');
    return v;
  }

  int(group: string, name: string, defsGroup = group): number | undefined {
    const r = this.lookup(group, name, defsGroup);
    const def = this.def(defsGroup, name);
    if (!r || r.value.trim() === '') {
      return def.default === undefined ? undefined : Number(def.default);
    }
    const t = r.value.trim();
    if (!/^[+-]?\d+$/.test(t)) throw this.bad(group, def, r, 'is not an integer');
    const n = Number(t);
    if (def.min !== undefined && n < def.min) throw this.bad(group, def, r, `is less than ${def.min}`);
    return n;
  }

  list(group: string, name: string, defsGroup = group): string[] {
    const r = this.lookup(group, name, defsGroup);
    return r ? parseOsloList(r.value) : [];
  }

  /** A raw value (after substitution) with its origin, or the env default, or the table default. */
  lookup(group: string, name: string, defsGroup = group, depth = 0): (RawValue & { fromDefault: boolean }) | undefined {
    const def = this.def(defsGroup, name);
    const raw = this.ctx.store.raw(group, name, def.deprecatedNames);
    if (raw) {
      return { ...raw, value: this.substitute(raw, group, defsGroup, def, depth), fromDefault: false };
    }
    const envValue = def.envDefault ? this.ctx.env[def.envDefault] : undefined;
    if (def.envDefault && envValue !== undefined && envValue !== '') {
      return { value: envValue, writtenAs: name, origin: { where: `environment ${def.envDefault}` }, fromDefault: false };
    }
    if (def.default === undefined) return undefined;
    return { value: def.default, writtenAs: name, origin: { where: 'default' }, fromDefault: true };
  }

  /** Builds the message for a bad value; secrets are never echoed. */
  bad(group: string, def: OptDef, r: RawValue, problem: string): KuryrError {
    const shown = def.secret ? '(value hidden)' : `= "${redactUrl(r.value)}"`;
    const name = r.writtenAs === def.name ? def.name : `${r.writtenAs} (now ${def.name})`;
    return configError(`kuryr.conf: [${group}] ${name} ${shown} ${problem} (${r.origin.where})`);
  }

  private def(defsGroup: string, name: string): OptDef {
    const def = findOpt(defsGroup, name);
    if (!def) throw new KuryrError('KURYR_ERR_INTERNAL', `option [${defsGroup}] ${name} is not in the option table`);
    return def;
  }

  /**
   * oslo.config's `$var` substitution (Python string.Template with `[_a-z][._a-z0-9]*`):
   * `$$` and `\$` are a literal `$`; `$name`/`${name}` is another option of the same group (else
   * of [DEFAULT]); `${group.name}` names the group. An unknown name is an error, as in oslo; a `$`
   * not followed by a name is kept.
   */
  private substitute(raw: RawValue, group: string, defsGroup: string, def: OptDef, depth: number): string {
    const value = raw.value.replace(/\\\$/g, '$$$$');
    if (!value.includes('$')) return value;
    if (depth > MAX_SUBSTITUTION_DEPTH) throw this.bad(group, def, raw, 'has "$" references nested too deeply (a loop?)');
    return value.replace(/\$(?:(\$)|\{([_a-z][._a-z0-9]*)\}|([_a-z][._a-z0-9]*))/gi, (whole, dollar, braced, plain) => {
      if (dollar) return '$';
      const ref = String(braced ?? plain);
      const found = this.resolveRef(ref, group, defsGroup, depth + 1);
      if (found === undefined) {
        const what = def.secret ? 'contains a "$" reference to an unknown option' : `refers to unknown option "$${ref}"`;
        throw this.bad(group, def, raw, `${what}; write "$$" for a literal "$"`);
      }
      return found;
    });
  }

  private resolveRef(ref: string, group: string, defsGroup: string, depth: number): string | undefined {
    const tryGet = (g: string, dg: string, n: string): string | undefined => {
      if (!findOpt(dg, n)) return undefined;
      return this.lookup(g, n, dg, depth)?.value ?? '';
    };
    const dot = ref.indexOf('.');
    if (dot > 0) {
      const g = ref.slice(0, dot);
      const r = tryGet(g, GROUPS[g] ? g : 'auth', ref.slice(dot + 1));
      if (r !== undefined) return r;
    } else {
      const r = tryGet(group, defsGroup, ref);
      if (r !== undefined) return r;
    }
    return tryGet('DEFAULT', 'DEFAULT', ref);
  }
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
