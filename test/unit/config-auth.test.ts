import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, type LoadOptions } from '../../src/config/index.js';
import { configDirs } from './config-fixtures.js';
import { KuryrError } from '../../src/errors.js';

const dir = configDirs('kuryr-config-auth-');
const opts = (cloudsDir: string, extra: LoadOptions = {}): LoadOptions => ({
  defaultConfigFiles: [],
  defaultConfigDirs: [],
  cloudsSearchDirs: [cloudsDir],
  hostname: 'node-1',
  ...extra,
});

const CONF_AUTH = `[neutron]
auth_url = http://conf:5000/v3
username = conf-user
password = conf-pass
project_name = service
user_domain_name = Default
project_domain_name = Default
`;

const OS_ENV = {
  OS_AUTH_URL: 'http://env:5000/v3',
  OS_USERNAME: 'env-user',
  OS_PASSWORD: 'env-pass',
  OS_TENANT_NAME: 'env-project',
  OS_USER_DOMAIN_ID: 'default',
  OS_PROJECT_DOMAIN_ID: 'default',
  OS_REGION_NAME: 'EnvRegion',
  OS_INTERFACE: 'internalURL',
  OS_CACERT: '/env/ca.pem',
  OS_INSECURE: 'false',
};

const CLOUDS = `clouds:
  prod:
    auth_type: password
    auth:
      auth_url: http://cloud:5000/v3
      username: cloud-user
      project_name: cloud-project
      user_domain_name: Default
      project_domain_name: Default
    region_name: CloudRegion
    interface: admin
    cacert: /cloud/ca.pem
    verify: false
    api_timeout: 30
  other:
    auth:
      auth-url: http://other:5000/v3
      token: tok-123
      project-id: p1
`;
const SECURE = `clouds:
  prod:
    auth:
      password: cloud-pass
`;

describe('Keystone credentials from OS_* variables', () => {
  it('reads them when no kuryr.conf auth_url and no cloud is given', () => {
    const c = loadConfig([], OS_ENV, opts(dir()));
    assert.deepEqual(c.neutron.auth, {
      authType: 'password',
      authUrl: 'http://env:5000/v3',
      username: 'env-user',
      password: 'env-pass',
      projectName: 'env-project',
      userDomainId: 'default',
      projectDomainId: 'default',
    });
    assert.equal(c.neutron.regionName, 'EnvRegion');
    assert.equal(c.neutron.endpointType, 'internal');
    assert.deepEqual(c.neutron.tls, { insecure: false, cafile: '/env/ca.pem' });
    assert.ok(c.sources.includes('Keystone credentials from environment (OS_*)'));
  });

  it('infers token and application-credential auth types, and OS_PROJECT_NAME wins over OS_TENANT_NAME', () => {
    const token = loadConfig([], { OS_AUTH_URL: 'https://k/v3', OS_TOKEN: 't', OS_PROJECT_ID: 'p', OS_ENDPOINT_TYPE: 'adminURL' }, opts(dir()));
    assert.equal(token.neutron.auth.authType, 'token');
    assert.equal(token.neutron.endpointType, 'admin');
    const ac = loadConfig([], { OS_AUTH_URL: 'https://k/v3', OS_APPLICATION_CREDENTIAL_ID: 'id', OS_APPLICATION_CREDENTIAL_SECRET: 's' }, opts(dir()));
    assert.equal(ac.neutron.auth.authType, 'v3applicationcredential');
    assert.equal(ac.neutron.auth.applicationCredentialSecret, 's');
    const both = loadConfig([], { ...OS_ENV, OS_PROJECT_NAME: 'new' }, opts(dir()));
    assert.equal(both.neutron.auth.projectName, 'new');
  });

  it('fills unset user and project domains from the default domain', () => {
    const env = { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'x', OS_DEFAULT_DOMAIN_ID: 'default', OS_PROJECT_DOMAIN_NAME: 'Other' };
    const c = loadConfig([], env, opts(dir()));
    assert.equal(c.neutron.auth.userDomainId, 'default');
    assert.equal(c.neutron.auth.projectDomainName, 'Other');
    assert.equal(c.neutron.auth.projectDomainId, undefined);
  });
});

describe('Keystone credentials from clouds.yaml', () => {
  it('reads the cloud named by --os-cloud, merged with secure.yaml from the same directories', () => {
    const d = dir({ 'clouds.yaml': CLOUDS, 'secure.yaml': SECURE });
    const c = loadConfig(['--os-cloud', 'prod'], {}, opts(d));
    assert.deepEqual(c.neutron.auth, {
      authType: 'password',
      authUrl: 'http://cloud:5000/v3',
      username: 'cloud-user',
      password: 'cloud-pass',
      projectName: 'cloud-project',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    });
    assert.equal(c.neutron.regionName, 'CloudRegion');
    assert.equal(c.neutron.endpointType, 'admin');
    assert.deepEqual(c.neutron.tls, { insecure: true, cafile: '/cloud/ca.pem' });
    assert.equal(c.neutron.timeout, 30);
  });

  it('reads the cloud named by OS_CLOUD, accepts dashed keys, and --os-cloud wins over OS_CLOUD', () => {
    const d = dir({ 'clouds.yaml': CLOUDS, 'secure.yaml': SECURE });
    const other = loadConfig([], { OS_CLOUD: 'other' }, opts(d));
    assert.deepEqual(other.neutron.auth, { authType: 'token', authUrl: 'http://other:5000/v3', token: 'tok-123', projectId: 'p1' });
    assert.equal(loadConfig(['--os-cloud', 'prod'], { OS_CLOUD: 'other' }, opts(d)).neutron.auth.authUrl, 'http://cloud:5000/v3');
  });

  it('searches the directories in order and honours OS_CLIENT_CONFIG_FILE first', () => {
    const first = dir({ 'clouds.yml': 'clouds:\n  prod:\n    auth: {auth_url: "http://first/v3", token: t, project_id: p}\n' });
    const second = dir({ 'clouds.yaml': CLOUDS.replace('username: cloud-user', 'username: cloud-user\n      password: pw') });
    const o = { ...opts(first), cloudsSearchDirs: [first, second] };
    assert.equal(loadConfig(['--os-cloud', 'prod'], {}, o).neutron.auth.authUrl, 'http://first/v3');
    const env = { OS_CLIENT_CONFIG_FILE: join(second, 'clouds.yaml') };
    assert.equal(loadConfig(['--os-cloud', 'prod'], env, o).neutron.auth.authUrl, 'http://cloud:5000/v3');
  });

  it('fails with the cloud names when the cloud is not there, and with the paths when no clouds.yaml exists', () => {
    const d = dir({ 'clouds.yaml': CLOUDS });
    assert.throws(
      () => loadConfig(['--os-cloud', 'nope'], {}, opts(d)),
      (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && e.message === `clouds.yaml: cloud "nope" is not in ${join(d, 'clouds.yaml')} (clouds there: prod, other)`,
    );
    const empty = dir();
    assert.throws(() => loadConfig(['--os-cloud', 'prod'], {}, opts(empty)), (e: KuryrError) => e.message.includes('no clouds.yaml was found') && e.message.includes(join(empty, 'clouds.yaml')));
  });
});

describe('Keystone credential precedence', () => {
  it('uses kuryr.conf when it sets auth_url, even with a cloud and OS_* set, and warns about the cloud', () => {
    const d = dir({ 'kuryr.conf': CONF_AUTH, 'clouds.yaml': CLOUDS, 'secure.yaml': SECURE });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf'), '--os-cloud', 'prod'], OS_ENV, opts(d));
    assert.equal(c.neutron.auth.authUrl, 'http://conf:5000/v3');
    assert.equal(c.neutron.auth.username, 'conf-user');
    // Nothing leaks in from the other sources.
    assert.equal(c.neutron.regionName, undefined);
    assert.equal(c.neutron.endpointType, 'public');
    assert.deepEqual(c.neutron.tls, { insecure: false });
    assert.ok(c.warnings!.some((w) => w.includes('cloud "prod" is ignored')));
  });

  it('uses the named cloud over OS_* when kuryr.conf has no auth_url, but kuryr.conf session options still win', () => {
    const d = dir({ 'kuryr.conf': '[neutron]\nregion_name = ConfRegion\ninsecure = false\n', 'clouds.yaml': CLOUDS, 'secure.yaml': SECURE });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], { ...OS_ENV, OS_CLOUD: 'prod' }, opts(d));
    assert.equal(c.neutron.auth.authUrl, 'http://cloud:5000/v3');
    assert.equal(c.neutron.auth.password, 'cloud-pass');
    assert.equal(c.neutron.regionName, 'ConfRegion');
    assert.equal(c.neutron.tls.insecure, false);
    assert.equal(c.neutron.tls.cafile, '/cloud/ca.pem');
    assert.equal(c.neutron.endpointType, 'admin');
  });

  it('uses OS_* when neither kuryr.conf auth_url nor a cloud is given, warning about stray kuryr.conf auth options', () => {
    const d = dir({ 'kuryr.conf': '[neutron]\nusername = half-configured\n', 'clouds.yaml': CLOUDS });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], OS_ENV, opts(d));
    assert.equal(c.neutron.auth.authUrl, 'http://env:5000/v3');
    assert.equal(c.neutron.auth.username, 'env-user');
    assert.ok(c.warnings!.some((w) => w.includes('[neutron] has username but no auth_url')));
  });

  it('fails with one message naming all three places when there is no auth_url anywhere', () => {
    const d = dir({ 'kuryr.conf': '[DEFAULT]\ndebug = true\n' });
    assert.throws(
      () => loadConfig(['--config-file', join(d, 'kuryr.conf')], { OS_USERNAME: 'u' }, opts(d)),
      (e: KuryrError) =>
        e.code === 'KURYR_ERR_CONFIG' &&
        e.message === `no Keystone auth_url: set [neutron] auth_url in ${join(d, 'kuryr.conf')}, or OS_AUTH_URL, or a cloud in clouds.yaml (--os-cloud or OS_CLOUD)`,
    );
    assert.throws(() => loadConfig([], {}, opts(d)), /no Keystone auth_url: set \[neutron\] auth_url in \/etc\/kuryr\/kuryr.conf, or OS_AUTH_URL/);
  });

  it('reads the auth options from the section auth_section names', () => {
    const d = dir({
      'kuryr.conf': `[neutron]\nauth_section = keystone_authtoken\nregion_name = R\n[keystone_authtoken]\nwww_authenticate_uri = http://ignored\nmemcached_servers = m:11211\nauth_type = v3password\nauth_url = http://ks:5000/v3\nuser_id = 42\npassword = p\nproject_id = 7\n`,
    });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], {}, opts(d));
    assert.deepEqual(c.neutron.auth, { authType: 'v3password', authUrl: 'http://ks:5000/v3', userId: '42', password: 'p', projectId: '7' });
    assert.equal(c.neutron.regionName, 'R');
    assert.deepEqual(c.warnings, []);
  });
});

describe('missing Keystone credentials', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['password without password', 'auth_type = password\nauth_url = http://k/v3\nusername = u\nuser_domain_name = D\nproject_id = p\n', /\[neutron\] auth_type = password needs a password: set \[neutron\] password in .*k\.conf$/],
    ['password without user', 'auth_url = http://k/v3\npassword = p\nproject_id = p\n', /needs a user \(username or user_id\): set \[neutron\] username/],
    ['username without user domain', 'auth_url = http://k/v3\nusername = u\npassword = p\nproject_id = p\n', /\[neutron\] username needs a user domain for Keystone v3: set \[neutron\] user_domain_name/],
    ['project_name without project domain', 'auth_url = http://k/v3\nuser_id = u\npassword = p\nproject_name = p\n', /\[neutron\] project_name needs a project domain/],
    ['token type without token', 'auth_type = v3token\nauth_url = http://k/v3\nproject_id = p\n', /auth_type = v3token needs a token: set \[neutron\] token/],
    ['application credential without secret', 'auth_type = v3applicationcredential\nauth_url = http://k/v3\napplication_credential_id = i\n', /needs an application credential secret: set \[neutron\] application_credential_secret/],
  ];
  for (const [name, body, re] of cases) {
    it(`rejects ${name}`, () => {
      const d = dir({ 'k.conf': `[neutron]\n${body}` });
      assert.throws(() => loadConfig(['--config-file', join(d, 'k.conf')], {}, opts(d)), (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && re.test(e.message));
    });
  }

  it('names the environment variable or the clouds.yaml key to set', () => {
    assert.throws(
      () => loadConfig([], { OS_AUTH_URL: 'http://k/v3', OS_USER_ID: 'u', OS_PROJECT_ID: 'p' }, opts(dir())),
      /: Keystone auth type password \(inferred from environment \(OS_\*\)\) needs a password: set OS_PASSWORD$/,
    );
    const d = dir({ 'clouds.yaml': CLOUDS });
    assert.throws(
      () => loadConfig(['--os-cloud', 'prod'], {}, opts(d)),
      new RegExp(`needs a password: set clouds\\.prod\\.auth\\.password in ${join(d, 'clouds.yaml')} or secure\\.yaml$`),
    );
  });
});

describe("upstream's Keystone v2.0 auth types", () => {
  const cases: Array<[string, RegExp]> = [
    ['v2password', /\[neutron\] auth_type = "v2password" is Keystone v2\.0, which Kuryr does not speak .*: use auth_type = password \(or v3password\) with user_domain_name and project_domain_name, and a v3 auth_url/],
    ['v2token', /\[neutron\] auth_type = "v2token" is Keystone v2\.0, which Kuryr does not speak .*: use auth_type = token \(or v3token\), and a v3 auth_url/],
  ];
  for (const [authType, re] of cases) {
    it(`stop the daemon with an error naming the v3 replacement: ${authType}`, () => {
      const d = dir({ 'k.conf': `[neutron]\nauth_type = ${authType}\nauth_url = http://k:5000/v2.0\nusername = u\npassword = p\ntoken = t\ntenant_name = service\n` });
      assert.throws(() => loadConfig(['--config-file', join(d, 'k.conf')], {}, opts(d)), (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && re.test(e.message));
    });
  }
});

describe('clouds.yaml file permissions', () => {
  it('warns when the clouds.yaml or secure.yaml holding the secret is readable by others', () => {
    const d = dir({ 'clouds.yaml': [CLOUDS, 0o644], 'secure.yaml': [SECURE, 0o604] });
    const c = loadConfig(['--os-cloud', 'prod'], {}, opts(d));
    const perm = c.warnings!.filter((w) => w.includes('readable by group/others'));
    assert.equal(perm.length, 2);
    assert.ok(perm[1]!.startsWith(`clouds.yaml: ${join(d, 'secure.yaml')} holds credentials (password)`));
    const tight = dir({ 'clouds.yaml': CLOUDS, 'secure.yaml': SECURE });
    assert.deepEqual(loadConfig(['--os-cloud', 'prod'], {}, opts(tight)).warnings, []);
  });
});
