/**
 * The three places Keystone credentials can come from, each read into one shape (`AuthInput`):
 * kuryr.conf `[neutron]` (or its `auth_section`), a cloud in clouds.yaml (+ secure.yaml), and the
 * `OS_*` environment variables the OpenStack clients read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configError, normalizeInterface, parseOsloBool } from './options.js';

/** keystoneauth plugin option names (as in kuryr.conf). */
export const AUTH_KEYS = [
  'auth_type', 'auth_url', 'username', 'user_id', 'password', 'user_domain_name', 'user_domain_id',
  'project_name', 'project_id', 'project_domain_name', 'project_domain_id', 'domain_name', 'domain_id',
  'default_domain_name', 'default_domain_id', 'system_scope', 'token', 'application_credential_id',
  'application_credential_name', 'application_credential_secret',
] as const;
export type AuthKey = (typeof AUTH_KEYS)[number];

export const SECRET_AUTH_KEYS: ReadonlySet<string> = new Set(['password', 'token', 'application_credential_secret']);

export interface SessionInput {
  cafile?: string;
  certfile?: string;
  keyfile?: string;
  insecure?: boolean;
  regionName?: string;
  endpointType?: string;
  timeout?: number;
}

export interface AuthInput {
  kind: 'conf' | 'cloud' | 'env';
  values: Partial<Record<AuthKey, string>>;
  /** How to tell the user where to set `key` ("[neutron] password in /etc/kuryr/kuryr.conf", "OS_PASSWORD"). */
  setting(key: AuthKey): string;
  /** Where the value of `key` came from, for messages about a bad value. */
  origin(key: AuthKey): string;
  session: SessionInput;
  /** For `KuryrConfig.sources`. */
  label: string;
  /** Files holding these values (checked for group/other read permission). */
  files: string[];
}

// ---------------------------------------------------------------------------------------------
// OS_* environment

const ENV_KEYS: Record<AuthKey, readonly string[]> = {
  auth_type: ['OS_AUTH_TYPE'],
  auth_url: ['OS_AUTH_URL'],
  username: ['OS_USERNAME'],
  user_id: ['OS_USER_ID'],
  password: ['OS_PASSWORD'],
  user_domain_name: ['OS_USER_DOMAIN_NAME'],
  user_domain_id: ['OS_USER_DOMAIN_ID'],
  project_name: ['OS_PROJECT_NAME', 'OS_TENANT_NAME'],
  project_id: ['OS_PROJECT_ID', 'OS_TENANT_ID'],
  project_domain_name: ['OS_PROJECT_DOMAIN_NAME'],
  project_domain_id: ['OS_PROJECT_DOMAIN_ID'],
  domain_name: ['OS_DOMAIN_NAME'],
  domain_id: ['OS_DOMAIN_ID'],
  default_domain_name: ['OS_DEFAULT_DOMAIN_NAME'],
  default_domain_id: ['OS_DEFAULT_DOMAIN_ID', 'OS_DEFAULT_DOMAIN'],
  system_scope: ['OS_SYSTEM_SCOPE'],
  token: ['OS_TOKEN'],
  application_credential_id: ['OS_APPLICATION_CREDENTIAL_ID'],
  application_credential_name: ['OS_APPLICATION_CREDENTIAL_NAME'],
  application_credential_secret: ['OS_APPLICATION_CREDENTIAL_SECRET'],
};

const envValue = (env: NodeJS.ProcessEnv, names: readonly string[]): [string, string] | undefined => {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== '') return [n, v];
  }
  return undefined;
};

export function authFromEnv(env: NodeJS.ProcessEnv): AuthInput {
  const values: Partial<Record<AuthKey, string>> = {};
  const from: Partial<Record<AuthKey, string>> = {};
  for (const key of AUTH_KEYS) {
    const hit = envValue(env, ENV_KEYS[key]);
    if (hit) {
      from[key] = hit[0];
      values[key] = hit[1];
    }
  }
  const session: SessionInput = {};
  if (env.OS_CACERT) session.cafile = env.OS_CACERT;
  if (env.OS_CERT) session.certfile = env.OS_CERT;
  if (env.OS_KEY) session.keyfile = env.OS_KEY;
  if (env.OS_INSECURE) {
    const v = parseOsloBool(env.OS_INSECURE);
    if (v === undefined) throw configError(`OS_INSECURE = "${env.OS_INSECURE}" is not a boolean (true/false, yes/no, on/off, 1/0) (environment)`);
    session.insecure = v;
  }
  if (env.OS_REGION_NAME) session.regionName = env.OS_REGION_NAME;
  const iface = envValue(env, ['OS_INTERFACE', 'OS_ENDPOINT_TYPE']);
  if (iface) session.endpointType = checkInterface(iface[1], `${iface[0]} = "${iface[1]}"`, 'environment');
  return {
    kind: 'env',
    values,
    setting: (key) => ENV_KEYS[key][0]!,
    origin: (key) => `environment ${from[key] ?? ENV_KEYS[key][0]}`,
    session,
    label: 'environment (OS_*)',
    files: [],
  };
}

function checkInterface(value: string, shown: string, where: string): string {
  const v = normalizeInterface(value);
  if (v !== 'public' && v !== 'internal' && v !== 'admin') {
    throw configError(`${shown} is not one of public, internal, admin (${where})`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// clouds.yaml (openstacksdk's rules)

export interface CloudsSearch {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Replaces openstacksdk's directory list (cwd, user config, site config); for tests. */
  dirs?: readonly string[];
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

/** openstacksdk's CONFIG_SEARCH_PATH. */
export function cloudsSearchDirs(search: CloudsSearch): string[] {
  if (search.dirs) return [...search.dirs];
  const userConfig = join(search.env.XDG_CONFIG_HOME || join(home(search.env), '.config'), 'openstack');
  const unixUser = join(home(search.env), '.config', 'openstack');
  const dirs = [search.cwd, userConfig, unixUser, '/etc/xdg/openstack', '/etc/openstack'];
  return dirs.filter((d, i) => dirs.indexOf(d) === i);
}

const SUFFIXES = ['.yaml', '.yml', '.json'];

function candidates(search: CloudsSearch, base: 'clouds' | 'secure'): string[] {
  const override = base === 'clouds' ? search.env.OS_CLIENT_CONFIG_FILE : search.env.OS_CLIENT_SECURE_FILE;
  const list = cloudsSearchDirs(search).flatMap((d) => SUFFIXES.map((sfx) => join(d, base + sfx)));
  return override ? [override, ...list] : list;
}

type Yamlish = Record<string, unknown>;

const isObject = (v: unknown): v is Yamlish => typeof v === 'object' && v !== null && !Array.isArray(v);

function loadFirst(paths: string[]): { path: string; data: Yamlish } | undefined {
  for (const path of paths) {
    if (!existsSync(path)) continue;
    let data: unknown;
    try {
      const text = readFileSync(path, 'utf8');
      data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      // The parser's message can quote file content (a secret); keep only its position if any.
      const line = (err as { linePos?: { line?: number }[] } | undefined)?.linePos?.[0]?.line;
      const pos = line ? ` near line ${line}` : '';
      throw configError(`clouds.yaml: ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}${pos}`);
    }
    if (data === null || data === undefined) data = {};
    if (!isObject(data)) throw configError(`clouds.yaml: ${path} does not hold a mapping`);
    return { path, data };
  }
  return undefined;
}

/** openstacksdk `_merge_clouds`: deep merge, the second (secure.yaml) wins. */
function deepMerge(a: Yamlish, b: Yamlish): Yamlish {
  const out: Yamlish = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

const dashToUnderscore = (o: Yamlish): Yamlish => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/-/g, '_'), v]));

function scalar(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** One cloud's entry (dashes in keys read as underscores), from the first clouds.yaml merged with the first secure.yaml. */
interface CloudEntry {
  cloud: Yamlish;
  /** The clouds.yaml, where non-secret keys are set. */
  cloudsPath: string;
  /** Every file read, for permission checks. */
  files: string[];
  /** For messages: the file, or both files. */
  where: string;
}

function readCloud(name: string, search: CloudsSearch): CloudEntry {
  const cloudsPaths = candidates(search, 'clouds');
  const clouds = loadFirst(cloudsPaths);
  if (!clouds) {
    throw configError(`clouds.yaml: cloud "${name}" was requested but no clouds.yaml was found (looked for ${cloudsPaths.filter((p) => !p.endsWith('.yml') && !p.endsWith('.json')).join(', ')})`);
  }
  const secure = loadFirst(candidates(search, 'secure'));
  const merged = secure ? deepMerge(clouds.data, secure.data) : clouds.data;
  const where = secure ? `${clouds.path} + ${secure.path}` : clouds.path;
  const all = isObject(merged.clouds) ? merged.clouds : {};
  const entry = all[name];
  if (!isObject(entry)) {
    const names = Object.keys(all);
    throw configError(`clouds.yaml: cloud "${name}" is not in ${where} (clouds there: ${names.length ? names.join(', ') : 'none'})`);
  }
  return { cloud: dashToUnderscore(entry), cloudsPath: clouds.path, files: secure ? [clouds.path, secure.path] : [clouds.path], where };
}

/** The keystoneauth options of a cloud: its `auth` mapping, then plugin options written at the cloud's top level. */
function cloudAuthValues(cloud: Yamlish): Partial<Record<AuthKey, string>> {
  const auth = isObject(cloud.auth) ? dashToUnderscore(cloud.auth) : {};
  const values: Partial<Record<AuthKey, string>> = {};
  const alias: Record<string, AuthKey> = { tenant_name: 'project_name', tenant_id: 'project_id' };
  const take = (src: Yamlish, topLevel: boolean) => {
    for (const [k0, v] of Object.entries(src)) {
      const k = (alias[k0] ?? k0) as AuthKey;
      if (!(AUTH_KEYS as readonly string[]).includes(k) || k === 'auth_type') continue;
      // openstacksdk moves plugin options written at the top level of a cloud into `auth`.
      if (topLevel && values[k] !== undefined) continue;
      const sv = scalar(v);
      if (sv !== undefined && sv !== '') values[k] = sv;
    }
  };
  take(auth, false);
  take(cloud, true);
  const authType = scalar(cloud.auth_type);
  if (authType) values.auth_type = authType;
  return values;
}

/** The session options of a cloud (region, interface, TLS files, verify, api_timeout). */
function cloudSession(cloud: Yamlish, name: string, where: string): SessionInput {
  const session: SessionInput = {};
  const region = scalar(cloud.region_name) ?? firstRegion(cloud.regions);
  if (region) session.regionName = region;
  const iface = scalar(cloud.interface) ?? scalar(cloud.endpoint_type);
  if (iface) session.endpointType = checkInterface(iface, `clouds.${name}.interface = "${iface}"`, where);
  const cacert = scalar(cloud.cacert);
  if (cacert) session.cafile = cacert;
  const cert = scalar(cloud.cert);
  if (cert) session.certfile = cert;
  const key = scalar(cloud.key);
  if (key) session.keyfile = key;
  for (const [field, invert] of [['verify', true], ['insecure', false]] as const) {
    const raw = scalar(cloud[field]);
    if (raw === undefined) continue;
    const v = parseOsloBool(raw);
    if (v === undefined) throw configError(`clouds.yaml: clouds.${name}.${field} = "${raw}" is not a boolean (${where})`);
    session.insecure = invert ? !v : v;
  }
  const timeout = scalar(cloud.api_timeout);
  if (timeout !== undefined) {
    const n = Number(timeout);
    if (!Number.isFinite(n) || n <= 0) throw configError(`clouds.yaml: clouds.${name}.api_timeout = "${timeout}" is not a positive number (${where})`);
    session.timeout = Math.ceil(n);
  }
  return session;
}

/**
 * Reads cloud `name` from the first clouds.yaml found, merged with the first secure.yaml found.
 * `warn` receives notes about keys that are not supported.
 */
export function authFromCloud(name: string, search: CloudsSearch, warn: (msg: string) => void): AuthInput {
  const { cloud, cloudsPath, files, where } = readCloud(name, search);
  if (cloud.profile !== undefined || cloud.cloud !== undefined) {
    warn(`clouds.yaml: clouds.${name}.profile (vendor profiles) is not supported; set auth.auth_url and region_name in the cloud itself (${cloudsPath})`);
  }
  const settingFile = (k: AuthKey) => (SECRET_AUTH_KEYS.has(k) ? `${cloudsPath} or secure.yaml` : cloudsPath);
  return {
    kind: 'cloud',
    values: cloudAuthValues(cloud),
    setting: (k) => (k === 'auth_type' ? `clouds.${name}.auth_type in ${cloudsPath}` : `clouds.${name}.auth.${k} in ${settingFile(k)}`),
    origin: () => where,
    session: cloudSession(cloud, name, where),
    label: `clouds.yaml cloud "${name}" (${where})`,
    files,
  };
}

function firstRegion(regions: unknown): string | undefined {
  if (!Array.isArray(regions) || regions.length === 0) return undefined;
  const r: unknown = regions[0];
  return isObject(r) ? scalar(r.name) : scalar(r);
}
