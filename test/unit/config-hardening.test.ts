/**
 * Configuration that widens or bounds what Kuryr exposes: the listener's scheme must match
 * enable_ssl, the client-name allow-list needs client certificates, project boundaries are closed
 * unless the operator opens them, and a fatal VIF wait always ends.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { VIF_PLUGGING_TIMEOUT_FATAL } from '../../src/config/load.js';
import { KuryrError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'kuryr-config-hardening-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const AUTH = '[neutron]\nauth_url = http://ctrl:5000/v3\nusername = kuryr\npassword = p\nproject_name = service\nuser_domain_name = Default\nproject_domain_name = Default\n';
const certFile = join(root, 'cert.pem');
writeFileSync(certFile, 'not read at load time');

function load(text: string) {
  const d = join(root, `t${n++}`);
  mkdirSync(d, { recursive: true });
  const path = join(d, 'kuryr.conf');
  writeFileSync(path, text + AUTH, { mode: 0o600 });
  const warnings: string[] = [];
  const config = loadConfig(['--config-file', path], {}, { defaultConfigFiles: [], defaultConfigDirs: [], cloudsSearchDirs: [], hostname: 'node-1', onWarning: (w) => warnings.push(w) });
  return { config, warnings };
}

const configError = (pattern: RegExp) => (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && pattern.test(e.message);
const tls = `ssl_cert_file = ${certFile}\nssl_key_file = ${certFile}\n`;

describe('the plugin endpoint', () => {
  it('is the unix socket only, unless kuryr_uri names a TCP listener', () => {
    const { config } = load('');
    assert.equal(config.kuryrUri, '');
    assert.equal(config.socketPath, '/run/docker/plugins/kuryr.sock');
  });

  it('refuses an https kuryr_uri without enable_ssl: it would be a plaintext listener', () => {
    assert.throws(() => load('[DEFAULT]\nkuryr_uri = https://127.0.0.1:23750\n'), configError(/kuryr_uri = "https:\/\/127\.0\.0\.1:23750" is https but enable_ssl is False/));
  });

  it('refuses enable_ssl with an http or empty kuryr_uri', () => {
    assert.throws(() => load(`[DEFAULT]\nkuryr_uri = http://127.0.0.1:23750\nenable_ssl = True\n${tls}`), configError(/enable_ssl is True but kuryr_uri is "http:\/\/127\.0\.0\.1:23750"/));
    assert.throws(() => load(`[DEFAULT]\nenable_ssl = True\n${tls}`), configError(/enable_ssl is True but kuryr_uri is empty/));
  });

  it('takes an allow-list of client certificate names only with client certificates', () => {
    assert.throws(() => load(`[DEFAULT]\nkuryr_uri = https://127.0.0.1:1\nenable_ssl = True\n${tls}ssl_allowed_client_names = docker-a\n`), configError(/ssl_allowed_client_names needs enable_ssl = True and ssl_ca_file/));
    const { config } = load(`[DEFAULT]\nkuryr_uri = https://127.0.0.1:1\nenable_ssl = True\n${tls}ssl_ca_file = ${certFile}\nssl_allowed_client_names = docker-a, docker-b\n`);
    assert.deepEqual(config.sslAllowedClientNames, ['docker-a', 'docker-b']);
  });
});

describe('[neutron] boundaries and bounds', () => {
  it('keeps other projects and shared networks closed, and caps concurrent requests, by default', () => {
    const { neutron } = load('').config;
    assert.equal(neutron.allowOtherProjects, false);
    assert.equal(neutron.allowSharedNetworks, false);
    assert.equal(neutron.maxConcurrentRequests, 16);
  });

  it('opens them when the operator says so', () => {
    const { neutron } = load('[neutron]\nallow_other_projects = True\nallow_shared_networks = yes\nmax_concurrent_requests = 4\n').config;
    assert.deepEqual([neutron.allowOtherProjects, neutron.allowSharedNetworks, neutron.maxConcurrentRequests], [true, true, 4]);
  });

  it('gives a fatal VIF wait a finite timeout, warning when the file asked for none', () => {
    assert.equal(load('[neutron]\nvif_plugging_is_fatal = True\n').config.neutron.vifPluggingTimeout, VIF_PLUGGING_TIMEOUT_FATAL);
    const explicit = load('[neutron]\nvif_plugging_is_fatal = True\nvif_plugging_timeout = 0\n');
    assert.equal(explicit.config.neutron.vifPluggingTimeout, VIF_PLUGGING_TIMEOUT_FATAL);
    assert.ok(explicit.warnings.some((w) => w.includes('vif_plugging_timeout = 0 would let a container wait forever')), explicit.warnings.join('\n'));
    assert.equal(load('[neutron]\nvif_plugging_is_fatal = True\nvif_plugging_timeout = 30\n').config.neutron.vifPluggingTimeout, 30);
  });
});
