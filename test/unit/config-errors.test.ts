import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type LoadOptions } from '../../src/config/index.js';
import { KuryrError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'kuryr-config-errors-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function confFile(text: string, mode = 0o600): string {
  const d = join(root, `t${n++}`);
  mkdirSync(d, { recursive: true });
  const path = join(d, 'kuryr.conf');
  writeFileSync(path, text, { mode });
  return path;
}
const opts = (extra: LoadOptions = {}): LoadOptions => ({ defaultConfigFiles: [], defaultConfigDirs: [], cloudsSearchDirs: [], hostname: 'node-1', ...extra });

const SECRET = 'Zq9-very-secret-Xy';
const AUTH = `[neutron]
auth_url = http://ctrl:5000/v3
username = kuryr
password = ${SECRET}
project_name = service
user_domain_name = Default
project_domain_name = Default
`;

/** Loads `section` + `key = value` on top of a valid config; the bad line is line 2. */
function loadWith(section: string, key: string, value: string): { path: string; run: () => unknown } {
  const path = confFile(`[${section}]\n${key} = ${value}\n${AUTH}`);
  return { path, run: () => loadConfig(['--config-file', path], {}, opts()) };
}

describe('a wrong option value gives one message naming option and file', () => {
  it('matches the documented format for a bad choice', () => {
    const { path, run } = loadWith('DEFAULT', 'capability_scope', 'globl');
    assert.throws(run, (e: KuryrError) => {
      assert.equal(e.code, 'KURYR_ERR_CONFIG');
      assert.equal(e.message, `kuryr.conf: [DEFAULT] capability_scope = "globl" is not one of local, global (${path}:2)`);
      return true;
    });
  });

  const cases: Array<[string, string, string, string]> = [
    ['DEFAULT', 'enable_ssl', 'perhaps', 'is not a boolean'],
    ['DEFAULT', 'process_external_connectivity', '2', 'is not a boolean'],
    ['DEFAULT', 'debug', '', 'is not a boolean'],
    ['DEFAULT', 'kuryr_uri', 'localhost:23750', 'is not an http(s) URL'],
    ['DEFAULT', 'default_port_driver', 'kuryr_libnetwork.port_driver.drivers.ovs', 'is not one of veth, nested, vlan, sriov'],
    ['DEFAULT', 'enabled_port_drivers', 'veth, macvtap', 'has "macvtap", which is not one of veth, nested, vlan, sriov'],
    ['DEFAULT', 'default_port_driver', 'nested', 'is not in [DEFAULT] enabled_port_drivers'],
    ['neutron', 'enable_dhcp', 'maybe', 'is not a boolean'],
    ['neutron', 'insecure', 'sure', 'is not a boolean'],
    ['neutron', 'vif_plugging_is_fatal', 'fatal', 'is not a boolean'],
    ['neutron', 'vif_plugging_timeout', '-1', 'is less than 0'],
    ['neutron', 'vif_plugging_timeout', '10s', 'is not an integer'],
    ['neutron', 'timeout', '0', 'is less than 1'],
    ['neutron', 'endpoint_type', 'private', 'is not one of public, internal, admin'],
    ['neutron', 'endpoint_override', 'neutron:9696', 'is not an http(s) URL'],
    ['neutron', 'auth_type', 'kerberos', 'is not one of password, v3password'],
    ['neutron', 'auth_url', 'ftp://ctrl/v3', 'is not an http(s) URL'],
    ['binding', 'default_driver', 'kuryr.lib.binding.drivers.bridge', 'is not one of veth, macvlan, ipvlan, vlan'],
    ['binding', 'enabled_drivers', 'kuryr.lib.binding.drivers.tap', 'has "kuryr.lib.binding.drivers.tap", which is not one of'],
    ['binding', 'default_driver', 'macvlan', 'is not in [binding] enabled_drivers'],
  ];
  for (const [section, key, value, problem] of cases) {
    it(`rejects [${section}] ${key} = "${value}"`, () => {
      // [neutron] options come after the AUTH block's [neutron] header, so put them in a second file part.
      const path = confFile(`${AUTH}[${section}]\n${key} = ${value}\n`);
      const line = AUTH.split('\n').length + 1;
      assert.throws(
        () => loadConfig(['--config-file', path], {}, opts()),
        (e: KuryrError) => {
          assert.equal(e.code, 'KURYR_ERR_CONFIG');
          assert.ok(e.message.includes(`[${section}] ${key}`), e.message);
          assert.ok(e.message.includes(problem), e.message);
          assert.ok(e.message.includes(`(${path}:${line})`), e.message);
          assert.ok(!e.message.includes(SECRET));
          return true;
        },
      );
    });
  }

  it('names the environment variable when the bad value came from it', () => {
    const path = confFile(AUTH);
    assert.throws(
      () => loadConfig(['--config-file', path], { CAPABILITY_SCOPE: 'both' }, opts()),
      /\[DEFAULT\] capability_scope = "both" is not one of local, global \(environment CAPABILITY_SCOPE\)/,
    );
    assert.throws(() => loadConfig([], { OS_AUTH_URL: 'http://k/v3', OS_USER_ID: 'u', OS_PASSWORD: 'p', OS_INTERFACE: 'private' }, opts()), /OS_INTERFACE = "private" is not one of public, internal, admin/);
  });

  it('rejects a port driver whose binding driver is not enabled, and nested without link_iface', () => {
    const noMacvlan = confFile(`[DEFAULT]\ndefault_port_driver = nested\nenabled_port_drivers = nested\n${AUTH}`);
    assert.throws(() => loadConfig(['--config-file', noMacvlan], {}, opts()), /port driver nested needs macvlan or ipvlan in \[binding\] enabled_drivers/);
    const noLink = confFile(`[DEFAULT]\ndefault_port_driver = nested\nenabled_port_drivers = nested\n[binding]\ndefault_driver = macvlan\nenabled_drivers = macvlan\n${AUTH}`);
    assert.throws(() => loadConfig(['--config-file', noLink], {}, opts()), /default_port_driver = nested needs \[binding\] link_iface/);
  });

  it('rejects enable_ssl when the certificate file is missing', () => {
    const path = confFile(`[DEFAULT]\nkuryr_uri = https://127.0.0.1:23750\nenable_ssl = true\nssl_cert_file = /nonexistent/cert.pem\n${AUTH}`);
    assert.throws(
      () => loadConfig(['--config-file', path], {}, opts()),
      new RegExp(`\\[DEFAULT\\] ssl_cert_file = "/nonexistent/cert.pem" does not exist, and enable_ssl is True \\(${path}:4\\)`),
    );
  });

  it('rejects an auth_section that names a missing section', () => {
    const path = confFile(`${AUTH}auth_section = keystone_authtoken\n`);
    assert.throws(() => loadConfig(['--config-file', path], {}, opts()), /\[neutron\] auth_section = "keystone_authtoken" names a section that no config file has/);
  });

  it('reports INI syntax errors with file and line', () => {
    const path = confFile(`[DEFAULT]\ndebug = true\n${SECRET}\n`);
    assert.throws(
      () => loadConfig(['--config-file', path], {}, opts()),
      (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && e.message.includes(`(${path}:3)`) && !e.message.includes(SECRET),
    );
  });
});

describe('secrets never appear in messages', () => {
  function messagesOf(run: () => unknown): string[] {
    const seen: string[] = [];
    try {
      const c = run() as { warnings?: string[] };
      seen.push(...(c.warnings ?? []));
    } catch (e) {
      seen.push((e as Error).message);
    }
    return seen;
  }

  it('keeps passwords, tokens and application-credential secrets out of errors and warnings', () => {
    const runs: Array<() => unknown> = [
      // An unknown secret-looking option: warned about without its value.
      () => loadConfig(['--config-file', confFile(`${AUTH}admin_password = ${SECRET}\n[keystone_client]\nadmin_password = ${SECRET}\n`, 0o644)], {}, opts()),
      // A bad substitution inside the password.
      () => loadConfig(['--config-file', confFile(AUTH.replace(SECRET, `${SECRET}$ref`))], {}, opts()),
      // Missing user: the password is known but must not be echoed.
      () => loadConfig(['--config-file', confFile(AUTH.replace('username = kuryr\n', ''))], {}, opts()),
      // A token type without a token, with a password present.
      () => loadConfig([], { OS_AUTH_URL: 'http://k/v3', OS_AUTH_TYPE: 'v3token', OS_PASSWORD: SECRET }, opts()),
      // Application credential without an id or name.
      () => loadConfig([], { OS_AUTH_URL: 'http://k/v3', OS_APPLICATION_CREDENTIAL_SECRET: SECRET }, opts()),
      // Credentials embedded in a URL.
      () => loadConfig([], { OS_AUTH_URL: `ftp://user:${SECRET}@k/v3`, OS_TOKEN: SECRET }, opts()),
      // A value glued to an unknown argument.
      () => loadConfig([`--os-password=${SECRET}`], {}, opts()),
      // Unscoped credentials.
      () => loadConfig([], { OS_AUTH_URL: 'http://k/v3', OS_USER_ID: 'u', OS_PASSWORD: SECRET }, opts()),
    ];
    for (const [i, run] of runs.entries()) {
      const msgs = messagesOf(run);
      assert.ok(msgs.length > 0, `run ${i} produced no message`);
      for (const m of msgs) assert.ok(!m.includes(SECRET) && !m.includes('Zq9'), `run ${i} leaked: ${m}`);
    }
  });
});
