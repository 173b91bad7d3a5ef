/**
 * Turns the credentials of the chosen source into a validated `AuthConfig`: the auth type is
 * checked (or inferred), `default_domain_*` fills unset user/project domains as keystoneauth does,
 * and each auth type's required credentials must be present. Secrets are never echoed.
 */
import type { AuthConfig, AuthType } from './types.js';
import type { AuthInput, AuthKey } from './auth-sources.js';
import { configError, redactUrl } from './options.js';

export const AUTH_TYPES: readonly AuthType[] = [
  'password', 'v3password', 'token', 'v3token', 'v3applicationcredential', 'applicationcredential',
];

const PASSWORD_TYPES: ReadonlySet<AuthType> = new Set(['password', 'v3password']);
const TOKEN_TYPES: ReadonlySet<AuthType> = new Set(['token', 'v3token']);

/** `kuryr.conf: [neutron] auth_url`, `OS_AUTH_URL`, `clouds.yaml: clouds.x.auth.auth_url`. */
function named(input: AuthInput, key: AuthKey): string {
  const s = input.setting(key);
  if (input.kind === 'conf') return `kuryr.conf: ${s.replace(/ in .*$/, '')}`;
  if (input.kind === 'cloud') return `clouds.yaml: ${s.replace(/ in .*$/, '')}`;
  return s;
}

function inferType(v: Partial<Record<AuthKey, string>>): AuthType {
  if (v.application_credential_secret !== undefined || v.application_credential_id !== undefined) return 'v3applicationcredential';
  if (v.token !== undefined && (v.password === undefined || (v.username === undefined && v.user_id === undefined))) return 'token';
  return 'password';
}

function checkUrl(input: AuthInput, value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw configError(`${named(input, 'auth_url')} = "${redactUrl(value)}" is not an http(s) URL (${input.origin('auth_url')})`);
  }
}

/** Keystone v2.0 plugins (upstream's `v2password`/`v2token`), and their v3 replacements. */
const V2_REPLACEMENTS: Readonly<Record<string, string>> = {
  v2password: 'password (or v3password) with user_domain_name and project_domain_name',
  v2token: 'token (or v3token)',
};

/** The auth type written, or inferred from the credentials given. */
function authTypeOf(input: AuthInput): AuthType {
  const raw = input.values.auth_type;
  if (raw === undefined) return inferType(input.values);
  const t = raw.trim().toLowerCase().replace(/-/g, '_').replace(/_/g, '');
  const v3 = V2_REPLACEMENTS[t];
  if (v3) {
    throw configError(`${named(input, 'auth_type')} = "${raw}" is Keystone v2.0, which Kuryr does not speak (Keystone removed it in Queens): use auth_type = ${v3}, and a v3 auth_url (${input.origin('auth_type')})`);
  }
  const match = AUTH_TYPES.find((a) => a === t);
  if (!match) throw configError(`${named(input, 'auth_type')} = "${raw}" is not one of ${AUTH_TYPES.join(', ')} (${input.origin('auth_type')})`);
  return match;
}

interface Domains {
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
}

/** `default_domain_*` fills a user or project domain left unset, as keystoneauth does. */
function domainsOf(v: AuthInput['values']): Domains {
  return {
    userDomainName: v.user_domain_name ?? (v.user_domain_id === undefined ? v.default_domain_name : undefined),
    userDomainId: v.user_domain_id ?? (v.user_domain_name === undefined ? v.default_domain_id : undefined),
    projectDomainName: v.project_domain_name ?? (v.project_domain_id === undefined ? v.default_domain_name : undefined),
    projectDomainId: v.project_domain_id ?? (v.project_domain_name === undefined ? v.default_domain_id : undefined),
  };
}

/** Each auth type's required credentials are present; a user named by name has a domain. */
function checkCredentials(input: AuthInput, authType: AuthType, domains: Domains): void {
  const v = input.values;
  const typeLabel = v.auth_type !== undefined ? `${named(input, 'auth_type')} = ${authType}` : `Keystone auth type ${authType} (inferred from ${input.label})`;
  const need = (key: AuthKey, why: string) => {
    if (v[key] === undefined || v[key] === '') {
      throw configError(`${typeLabel} needs ${why}: set ${input.setting(key)}`);
    }
  };
  const needUserDomain = () => {
    if (v.username !== undefined && v.user_id === undefined && domains.userDomainName === undefined && domains.userDomainId === undefined) {
      throw configError(
        `${named(input, 'username')} needs a user domain for Keystone v3: set ${input.setting('user_domain_name')} (or user_domain_id, or default_domain_id)`,
      );
    }
  };
  if (PASSWORD_TYPES.has(authType)) {
    need('password', 'a password');
    if (v.username === undefined && v.user_id === undefined) need('username', 'a user (username or user_id)');
    needUserDomain();
  } else if (TOKEN_TYPES.has(authType)) {
    need('token', 'a token');
  } else {
    need('application_credential_secret', 'an application credential secret');
    if (v.application_credential_id === undefined) {
      need('application_credential_name', 'application_credential_id or application_credential_name');
      if (v.user_id === undefined && v.username === undefined) need('user_id', 'the owning user for a named application credential (user_id or username)');
      needUserDomain();
    }
  }
}

/** A project named by name needs its domain; no scope at all earns a warning (Neutron would refuse the token). */
function checkScope(input: AuthInput, authType: AuthType, domains: Domains, warn: (msg: string) => void): void {
  const v = input.values;
  if (v.project_name !== undefined && v.project_id === undefined && domains.projectDomainName === undefined && domains.projectDomainId === undefined) {
    throw configError(
      `${named(input, 'project_name')} needs a project domain for Keystone v3: set ${input.setting('project_domain_name')} (or project_domain_id, or default_domain_id)`,
    );
  }
  const scoped =
    v.project_name !== undefined || v.project_id !== undefined || v.domain_name !== undefined || v.domain_id !== undefined || v.system_scope !== undefined;
  if (!scoped && !authType.includes('applicationcredential')) {
    warn(`Keystone credentials (${input.label}) name no project, domain or system scope: the token will be unscoped and Neutron will likely refuse it; set ${input.setting('project_name')}`);
  }
}

export function buildAuth(input: AuthInput, warn: (msg: string) => void): AuthConfig {
  const v = input.values;
  const authType = authTypeOf(input);
  const authUrl = v.auth_url;
  if (authUrl === undefined || authUrl === '') {
    throw configError(`no Keystone auth_url: set ${input.setting('auth_url')}`);
  }
  checkUrl(input, authUrl);
  const domains = domainsOf(v);
  checkCredentials(input, authType, domains);
  checkScope(input, authType, domains, warn);

  const auth: AuthConfig = { authType, authUrl };
  const put = <K extends keyof AuthConfig>(k: K, value: AuthConfig[K] | undefined) => {
    if (value !== undefined && value !== '') auth[k] = value;
  };
  put('username', v.username);
  put('userId', v.user_id);
  put('password', v.password);
  put('userDomainName', domains.userDomainName);
  put('userDomainId', domains.userDomainId);
  put('projectName', v.project_name);
  put('projectId', v.project_id);
  put('projectDomainName', domains.projectDomainName);
  put('projectDomainId', domains.projectDomainId);
  put('domainName', v.domain_name);
  put('domainId', v.domain_id);
  put('token', v.token);
  put('applicationCredentialId', v.application_credential_id);
  put('applicationCredentialName', v.application_credential_name);
  put('applicationCredentialSecret', v.application_credential_secret);
  put('systemScope', v.system_scope);
  return auth;
}
