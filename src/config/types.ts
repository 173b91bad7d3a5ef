/** The resolved, validated configuration. Built once at startup by config/load.ts; frozen. */

export type AuthType = 'password' | 'v3password' | 'token' | 'v3token' | 'v3applicationcredential' | 'applicationcredential';

export interface AuthConfig {
  authType: AuthType;
  authUrl: string;
  username?: string;
  userId?: string;
  password?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  domainName?: string;
  domainId?: string;
  /** For token auth. */
  token?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  systemScope?: string;
}

export interface TlsClientConfig {
  cafile?: string;
  certfile?: string;
  keyfile?: string;
  insecure: boolean;
}

export interface NeutronConfig {
  auth: AuthConfig;
  tls: TlsClientConfig;
  /** Per-request timeout in seconds. */
  timeout: number;
  regionName?: string;
  /** Catalog interface: public | internal | admin. */
  endpointType: 'public' | 'internal' | 'admin';
  /** Overrides the catalog lookup (keystoneauth's endpoint_override). */
  endpointOverride?: string;
  defaultSubnetpoolV4: string;
  defaultSubnetpoolV6: string;
  enableDhcp: boolean;
  vifPluggingIsFatal: boolean;
  /** Seconds; 0 = wait forever (only when vif_plugging_is_fatal is off, where nothing waits). */
  vifPluggingTimeout: number;
  /** neutron.net|subnet|pool.* may name objects of projects other than Kuryr's (and not shared). */
  allowOtherProjects: boolean;
  /** -o neutron.net.shared=true is allowed. */
  allowSharedNetworks: boolean;
  /** Neutron requests in flight at once. */
  maxConcurrentRequests: number;
}

export interface BindingConfig {
  vethDstPrefix: string;
  /** Short name: veth | macvlan | ipvlan | vlan. */
  defaultDriver: 'veth' | 'macvlan' | 'ipvlan' | 'vlan';
  /** Short names: veth | macvlan | ipvlan | vlan | hw_veb (upstream module paths are mapped). */
  enabledDrivers: string[];
  linkIface: string;
}

export interface DockerApiConfig {
  /** unix:///path or tcp://host:port (https with the TLS files). */
  host: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsVerify: boolean;
  setDnsName: boolean;
}

export interface VifPoolConfig {
  enabled: boolean;
  min: number;
  /** 0: no maximum. */
  max: number;
  batch: number;
  /** Seconds between refills. */
  updateFrequency: number;
}

export interface CniDaemonConfig {
  /** Serve kuryr-cni's requests. */
  enabled: boolean;
  socketPath: string;
}

export interface PortForwardingConfig {
  /** Floating IP address or ID published ports forward from; empty: -p is refused. */
  floatingIp: string;
}

export interface KuryrConfig {
  /** Where the config came from, for messages. */
  sources: string[];
  kuryrUri: string;
  capabilityScope: 'local' | 'global';
  localDefaultAddressSpace: string;
  globalDefaultAddressSpace: string;
  processExternalConnectivity: boolean;
  enableSsl: boolean;
  sslCertFile: string;
  sslKeyFile: string;
  sslCaFile?: string;
  /** With sslCaFile: client certificate subject CNs allowed; empty: any certificate the CA signed. */
  sslAllowedClientNames: string[];
  subnetpoolNamePrefix: string;
  /** Unix socket Docker finds the plugin on ("" disables it). */
  socketPath: string;
  /** Directory for the plugin's .spec/.json discovery file. */
  pluginSpecDir: string;
  debug: boolean;
  logFile?: string;
  /** Host name Neutron's agent knows this host by (binding:host_id). */
  hostname: string;
  neutron: NeutronConfig;
  binding: BindingConfig;
  /** Seconds one Docker call may take. */
  callTimeout: number;
  /** host:port for Prometheus metrics; empty: off. */
  metricsListen: string;
  /** What Docker uses to reach the https listener (`docker_ca_file`, `docker_client_{cert,key}_file`), for the plugin's .json. */
  dockerPluginTls: { caFile?: string; certFile?: string; keyFile?: string };
  gcOnStart: boolean;
  /** Seconds; 0: off. */
  gcInterval: number;
  docker: DockerApiConfig;
  vifPool: VifPoolConfig;
  portForwarding: PortForwardingConfig;
  cniDaemon: CniDaemonConfig;
  /** `[DEFAULT] default_port_driver` as a short name (upstream module paths are mapped). Always set by loadConfig. */
  defaultPortDriver?: PortDriverName;
  /** `[DEFAULT] enabled_port_drivers` as short names. Always set by loadConfig. */
  enabledPortDrivers?: PortDriverName[];
  /** Non-fatal findings while loading (unknown options, deprecated names, file permissions). Always set by loadConfig. */
  warnings?: string[];
}

/** Upstream port drivers (`kuryr_libnetwork.port_driver.drivers.<name>`). */
export type PortDriverName = 'veth' | 'nested' | 'vlan' | 'sriov';
