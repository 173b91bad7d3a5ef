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
  /** Seconds; 0 = wait forever. */
  vifPluggingTimeout: number;
}

export interface BindingConfig {
  vethDstPrefix: string;
  /** Short name: veth | macvlan | ipvlan | vlan. */
  defaultDriver: 'veth' | 'macvlan' | 'ipvlan' | 'vlan';
  enabledDrivers: string[];
  linkIface: string;
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
}
