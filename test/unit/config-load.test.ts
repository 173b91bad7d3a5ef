import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { AUTH, configDirs, hermeticLoad } from './config-fixtures.js';
import { KuryrError } from '../../src/errors.js';

const dir = configDirs('kuryr-config-load-');
const opts = hermeticLoad;


/** kuryr.conf as upstream's generated sample writes it: every option commented out. */
const UPSTREAM_SAMPLE = `[DEFAULT]

#
# From kuryr_libnetwork
#

# The URL for accessing the kuryr libnetwork service. (string value)
#kuryr_uri = http://127.0.0.1:23750

# Kuryr plugin scope reported to libnetwork. (string value)
# Possible values:
# local - Local scope
# global - Global scope
#capability_scope = local

#local_default_address_space = no_address_space
#global_default_address_space = no_address_space
#default_port_driver = kuryr_libnetwork.port_driver.drivers.veth
#enabled_port_drivers = kuryr_libnetwork.port_driver.drivers.veth
#process_external_connectivity = true
#ssl_cert_file = /var/lib/kuryr/certs/cert.pem
#ssl_key_file = /var/lib/kuryr/certs/key.pem
#enable_ssl = false
#bindir = /usr/libexec/kuryr
#subnetpool_name_prefix = kuryrPool
#deployment_type = baremetal

#
# From oslo.log
#
#debug = false
#log_file = <None>

[binding]
#veth_dst_prefix = eth
#default_driver = kuryr.lib.binding.drivers.veth
#enabled_drivers = kuryr.lib.binding.drivers.veth
#link_iface =

[neutron]
#enable_dhcp = True
#default_subnetpool_v4 = kuryr
#default_subnetpool_v6 = kuryr6
#vif_plugging_is_fatal = false
#vif_plugging_timeout = 0
#region_name = <None>
#endpoint_type = public
#cafile = <None>
#insecure = false
#timeout = <None>
auth_type = password
auth_url = http://ctrl:5000/v3
username = kuryr
password = n0t-for-logs
project_name = service
user_domain_name = Default
project_domain_name = Default
`;

describe('loadConfig with an upstream kuryr.conf', () => {
  it('applies every upstream default', () => {
    const d = dir({ 'kuryr.conf': UPSTREAM_SAMPLE });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], {}, opts());
    assert.equal(c.kuryrUri, '', 'no TCP listener unless configured: the root-only unix socket is the endpoint');
    assert.equal(c.capabilityScope, 'local');
    assert.equal(c.localDefaultAddressSpace, 'no_address_space');
    assert.equal(c.globalDefaultAddressSpace, 'no_address_space');
    assert.equal(c.processExternalConnectivity, true);
    assert.equal(c.enableSsl, false);
    assert.equal(c.sslCertFile, '/var/lib/kuryr/certs/cert.pem');
    assert.equal(c.sslKeyFile, '/var/lib/kuryr/certs/key.pem');
    assert.equal(c.sslCaFile, undefined);
    assert.equal(c.subnetpoolNamePrefix, 'kuryrPool');
    assert.equal(c.socketPath, '/run/docker/plugins/kuryr.sock');
    assert.equal(c.pluginSpecDir, '/usr/lib/docker/plugins/kuryr');
    assert.equal(c.debug, false);
    assert.equal(c.logFile, undefined);
    assert.equal(c.hostname, 'node-1');
    assert.equal(c.defaultPortDriver, 'veth');
    assert.deepEqual(c.enabledPortDrivers, ['veth']);
    assert.deepEqual(c.binding, { vethDstPrefix: 'eth', defaultDriver: 'veth', enabledDrivers: ['veth'], linkIface: '' });
    const { auth, ...neutron } = c.neutron;
    assert.deepEqual(neutron, {
      tls: { insecure: false },
      timeout: 15,
      endpointType: 'public',
      defaultSubnetpoolV4: 'kuryr',
      defaultSubnetpoolV6: 'kuryr6',
      enableDhcp: true,
      vifPluggingIsFatal: false,
      vifPluggingTimeout: 0,
      allowOtherProjects: false,
      allowSharedNetworks: false,
      maxConcurrentRequests: 16,
    });
    assert.deepEqual(auth, {
      authType: 'password',
      authUrl: 'http://ctrl:5000/v3',
      username: 'kuryr',
      password: 'n0t-for-logs',
      projectName: 'service',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    });
    assert.deepEqual(c.warnings, []);
    assert.equal(c.sources[0], join(d, 'kuryr.conf'));
  });

  it('reads every option that is set', () => {
    const d = dir({
      'kuryr.conf': `[DEFAULT]
kuryr_uri = http://10.0.0.5:2377
capability_scope = GLOBAL
local_default_address_space = l
global_default_address_space = g
process_external_connectivity = off
subnetpool_name_prefix = pool
debug = yes
log_dir = /var/log/kuryr
log_file = server.log
socket_path =
plugin_spec_dir = /etc/docker/plugins
hostname = compute-7
[binding]
veth_dst_prefix = ceth
link_iface = eth1
${AUTH}
enable_dhcp = false
vif_plugging_is_fatal = 1
vif_plugging_timeout = 300
region_name = RegionTwo
endpoint_type = internalURL
endpoint_override = http://neutron:9696
cafile = /etc/ssl/ca.pem
certfile = /etc/ssl/c.pem
keyfile = /etc/ssl/k.pem
insecure = TRUE
timeout = 15
default_subnetpool_v4 = p4
default_subnetpool_v6 = p6
`,
    });
    const c = loadConfig([`--config-file=${join(d, 'kuryr.conf')}`], {}, opts());
    assert.equal(c.kuryrUri, 'http://10.0.0.5:2377');
    assert.equal(c.capabilityScope, 'global');
    assert.equal(c.localDefaultAddressSpace, 'l');
    assert.equal(c.globalDefaultAddressSpace, 'g');
    assert.equal(c.processExternalConnectivity, false);
    assert.equal(c.subnetpoolNamePrefix, 'pool');
    assert.equal(c.debug, true);
    assert.equal(c.logFile, '/var/log/kuryr/server.log');
    assert.equal(c.socketPath, '');
    assert.equal(c.pluginSpecDir, '/etc/docker/plugins');
    assert.equal(c.hostname, 'compute-7');
    assert.equal(c.binding.vethDstPrefix, 'ceth');
    assert.equal(c.binding.linkIface, 'eth1');
    assert.equal(c.neutron.enableDhcp, false);
    assert.equal(c.neutron.vifPluggingIsFatal, true);
    assert.equal(c.neutron.vifPluggingTimeout, 300);
    assert.equal(c.neutron.regionName, 'RegionTwo');
    assert.equal(c.neutron.endpointType, 'internal');
    assert.equal(c.neutron.endpointOverride, 'http://neutron:9696');
    assert.deepEqual(c.neutron.tls, { insecure: true, cafile: '/etc/ssl/ca.pem', certfile: '/etc/ssl/c.pem', keyfile: '/etc/ssl/k.pem' });
    assert.equal(c.neutron.timeout, 15);
    assert.equal(c.neutron.defaultSubnetpoolV4, 'p4');
    assert.equal(c.neutron.defaultSubnetpoolV6, 'p6');
  });

  it('maps upstream driver module paths to short names', () => {
    const d = dir({
      'kuryr.conf': `[DEFAULT]
default_port_driver = kuryr_libnetwork.port_driver.drivers.nested
enabled_port_drivers = kuryr_libnetwork.port_driver.drivers.veth, kuryr_libnetwork.port_driver.drivers.nested, sriov
[binding]
default_driver = kuryr.lib.binding.drivers.macvlan
enabled_drivers = kuryr.lib.binding.drivers.macvlan,kuryr.lib.binding.drivers.hw_veb, veth
link_iface = eth0
${AUTH}`,
    });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], {}, opts());
    assert.equal(c.defaultPortDriver, 'nested');
    assert.deepEqual(c.enabledPortDrivers, ['veth', 'nested', 'sriov']);
    assert.equal(c.binding.defaultDriver, 'macvlan');
    assert.deepEqual(c.binding.enabledDrivers, ['macvlan', 'hw_veb', 'veth']);
  });

  it('accepts the deprecated [binding] driver name, with a warning', () => {
    const d = dir({ 'kuryr.conf': `[binding]\ndriver = kuryr.lib.binding.drivers.vlan\nenabled_drivers = vlan, veth\n${AUTH}` });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], {}, opts());
    assert.equal(c.binding.defaultDriver, 'vlan');
    assert.ok(c.warnings!.some((w) => w.includes('[binding] driver is deprecated; use default_driver')));
  });

  it('returns a deeply frozen object', () => {
    const d = dir({ 'kuryr.conf': AUTH });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf')], {}, opts());
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.neutron) && Object.isFrozen(c.neutron.auth) && Object.isFrozen(c.neutron.tls));
    assert.ok(Object.isFrozen(c.binding.enabledDrivers) && Object.isFrozen(c.sources) && Object.isFrozen(c.warnings));
    assert.throws(() => {
      (c.neutron.auth as { password?: string }).password = 'x';
    }, TypeError);
  });
});

describe('loadConfig file order', () => {
  it('lets a later --config-file override an earlier one, option by option', () => {
    const d = dir({
      'a.conf': `[DEFAULT]\ncapability_scope = global\nsubnetpool_name_prefix = fromA\n${AUTH}`,
      'b.conf': '[DEFAULT]\ncapability_scope = local\n',
    });
    const ab = loadConfig(['--config-file', join(d, 'a.conf'), '--config-file', join(d, 'b.conf')], {}, opts());
    assert.equal(ab.capabilityScope, 'local');
    assert.equal(ab.subnetpoolNamePrefix, 'fromA');
    const ba = loadConfig(['--config-file', join(d, 'b.conf'), '--config-file', join(d, 'a.conf')], {}, opts());
    assert.equal(ba.capabilityScope, 'global');
    assert.deepEqual(ba.sources.slice(0, 2), [join(d, 'b.conf'), join(d, 'a.conf')]);
  });

  it('reads every *.conf of --config-dir in sorted order, after the --config-file before it', () => {
    const d = dir({
      'kuryr.conf': `[DEFAULT]\nsubnetpool_name_prefix = main\nplugin_spec_dir = /main\n${AUTH}`,
      'conf.d/20-b.conf': '[DEFAULT]\nsubnetpool_name_prefix = twenty\n',
      'conf.d/10-a.conf': '[DEFAULT]\nsubnetpool_name_prefix = ten\nplugin_spec_dir = /ten\n',
      'conf.d/99-z.conf.disabled': '[DEFAULT]\nsubnetpool_name_prefix = disabled\n',
      // Several files, created out of order.
      'conf.d/15-q.conf': '[DEFAULT]\nsubnetpool_name_prefix = fifteen\n',
      'conf.d/05-m.conf': '[DEFAULT]\nsubnetpool_name_prefix = five\n',
      'conf.d/12-k.conf': '[DEFAULT]\nsubnetpool_name_prefix = twelve\n',
      'conf.d/11-j.conf': '[DEFAULT]\nsubnetpool_name_prefix = eleven\n',
    });
    const c = loadConfig(['--config-file', join(d, 'kuryr.conf'), '--config-dir', join(d, 'conf.d')], {}, opts());
    assert.equal(c.subnetpoolNamePrefix, 'twenty');
    assert.equal(c.pluginSpecDir, '/ten');
    const names = ['05-m', '10-a', '11-j', '12-k', '15-q', '20-b'].map((x) => join(d, `conf.d/${x}.conf`));
    assert.deepEqual(c.sources.slice(0, 7), [join(d, 'kuryr.conf'), ...names]);
  });

  it('uses the default file and directory only when none is given on the command line', () => {
    const d = dir({
      'etc/kuryr.conf': `[DEFAULT]\nsubnetpool_name_prefix = default-file\n${AUTH}`,
      'etc/kuryr.conf.d/50.conf': '[DEFAULT]\nplugin_spec_dir = /from-default-dir\n',
      'other.conf': `[DEFAULT]\nsubnetpool_name_prefix = other\n${AUTH}`,
    });
    const o = opts({ defaultConfigFiles: [join(d, 'missing.conf'), join(d, 'etc/kuryr.conf')], defaultConfigDirs: [join(d, 'etc/kuryr.conf.d')] });
    const byDefault = loadConfig([], {}, o);
    assert.equal(byDefault.subnetpoolNamePrefix, 'default-file');
    assert.equal(byDefault.pluginSpecDir, '/from-default-dir');
    const explicit = loadConfig(['--config-file', join(d, 'other.conf')], {}, o);
    assert.equal(explicit.subnetpoolNamePrefix, 'other');
    // As in oslo.config, the default directory is still read when only --config-file is given.
    assert.equal(explicit.pluginSpecDir, '/from-default-dir');
  });

  it('fails when a --config-file or --config-dir given on the command line does not exist', () => {
    assert.throws(
      () => loadConfig(['--config-file', '/nonexistent/kuryr.conf'], {}, opts()),
      (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && e.message === 'kuryr.conf: --config-file /nonexistent/kuryr.conf does not exist',
    );
    assert.throws(() => loadConfig(['--config-dir', '/nonexistent/conf.d'], {}, opts()), /--config-dir \/nonexistent\/conf.d does not exist/);
  });
});

describe('loadConfig values from the environment and the command line', () => {
  it('takes kuryr_uri and capability_scope from OS_KURYR_URI and CAPABILITY_SCOPE unless the file sets them', () => {
    const env = { OS_KURYR_URI: 'http://192.0.2.1:23750', CAPABILITY_SCOPE: 'global' };
    const d = dir({ 'a.conf': AUTH, 'b.conf': `[DEFAULT]\nkuryr_uri = http://file:1\ncapability_scope = local\n${AUTH}` });
    const fromEnv = loadConfig(['--config-file', join(d, 'a.conf')], env, opts());
    assert.equal(fromEnv.kuryrUri, 'http://192.0.2.1:23750');
    assert.equal(fromEnv.capabilityScope, 'global');
    const fromFile = loadConfig(['--config-file', join(d, 'b.conf')], env, opts());
    assert.equal(fromFile.kuryrUri, 'http://file:1');
    assert.equal(fromFile.capabilityScope, 'local');
  });

  it('lets --debug, --nodebug, --log-file and --log-dir override the file', () => {
    const d = dir({ 'k.conf': `[DEFAULT]\ndebug = true\nlog_file = a.log\n${AUTH}` });
    const f = join(d, 'k.conf');
    assert.equal(loadConfig(['--config-file', f, '--nodebug'], {}, opts()).debug, false);
    assert.equal(loadConfig(['--config-file', f], {}, opts()).debug, true);
    assert.equal(loadConfig(['--config-file', f, '--log-dir', '/logs'], {}, opts()).logFile, '/logs/a.log');
    assert.equal(loadConfig(['--config-file', f, '--log-file', '/tmp/b.log'], {}, opts()).logFile, '/tmp/b.log');
    const onlyDir = dir({ 'k.conf': `[DEFAULT]\nlog_dir = /var/log/kuryr\n${AUTH}` });
    assert.equal(loadConfig(['--config-file', join(onlyDir, 'k.conf')], {}, opts()).logFile, '/var/log/kuryr/kuryr-server.log');
  });
});

describe('loadConfig $-substitution (oslo.config)', () => {
  it('turns $$ into $ and resolves $option and ${group.option}', () => {
    const d = dir({
      'k.conf': `[DEFAULT]\npybasedir = /opt/kuryr\nplugin_spec_dir = $pybasedir/plugins\nsubnetpool_name_prefix = \${neutron.default_subnetpool_v4}-x\n${AUTH.replace('password = n0t-for-logs', () => 'password = pa$$word')}default_subnetpool_v4 = p4\n`,
    });
    const c = loadConfig(['--config-file', join(d, 'k.conf')], {}, opts());
    assert.equal(c.pluginSpecDir, '/opt/kuryr/plugins');
    assert.equal(c.subnetpoolNamePrefix, 'p4-x');
    assert.equal(c.neutron.auth.password, 'pa$word');
  });

  it('rejects a reference to an unknown option, naming it unless the value is secret', () => {
    const d = dir({
      'a.conf': `[DEFAULT]\nplugin_spec_dir = $nosuch/x\n${AUTH}`,
      'b.conf': AUTH.replace('password = n0t-for-logs', 'password = my$ecretpart'),
    });
    assert.throws(
      () => loadConfig(['--config-file', join(d, 'a.conf')], {}, opts()),
      (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && e.message.includes('[DEFAULT] plugin_spec_dir = "$nosuch/x" refers to unknown option "$nosuch"') && e.message.includes(`${join(d, 'a.conf')}:2`),
    );
    assert.throws(
      () => loadConfig(['--config-file', join(d, 'b.conf')], {}, opts()),
      (e: KuryrError) => e.message.includes('[neutron] password (value hidden)') && !e.message.includes('ecretpart') && e.message.includes('"$$"'),
    );
  });
});

describe('loadConfig warnings', () => {
  it('warns about unknown options with a hint for renamed or misspelled ones, and passes them to onWarning', () => {
    const d = dir({
      'k.conf': `[DEFAULT]\ncapabilty_scope = local\nbindir = /usr/libexec/kuryr\nlog-file = x.log\nuse_syslog = true\n[neutron_client]\nneutron_uri = http://n:9696\n[oslo_concurrency]\nlock_path = /x\n${AUTH}interface = internal\n[binding]\nenabled_driver = veth\n`,
    });
    const seen: string[] = [];
    const c = loadConfig(['--config-file', join(d, 'k.conf')], {}, opts({ onWarning: (m) => seen.push(m) }));
    const w = c.warnings!;
    assert.deepEqual(seen, [...w]);
    const has = (s: string) => assert.ok(w.some((x) => x.includes(s)), `no warning with ${s} in ${JSON.stringify(w)}`);
    has('[DEFAULT] capabilty_scope is not a Kuryr option, ignored; did you mean capability_scope?');
    has('[DEFAULT] log-file is not a Kuryr option, ignored; did you mean log_file?');
    has('[DEFAULT] use_syslog: oslo.log option(s) Kuryr-TS does not implement');
    has('[neutron_client] neutron_uri is not read: this section is from old kuryr releases; use [neutron] endpoint_override');
    has('section [oslo_concurrency] is not read by Kuryr');
    has('[neutron] interface is not a Kuryr option, ignored; use [neutron] endpoint_type');
    has('[binding] enabled_driver is not a Kuryr option, ignored; did you mean enabled_drivers?');
    has('[DEFAULT] bindir has no effect in Kuryr-TS; ignored (Kuryr-TS plugs ports itself; it runs no binding scripts)');
    assert.ok(w.every((x) => !x.includes('http://n:9696') && !x.includes('n0t-for-logs')));
  });

  it('warns when a file holding a password is readable by group or others, and only then', () => {
    const d = dir({ 'open.conf': [AUTH, 0o644], 'closed.conf': [AUTH, 0o600], 'nosecret.conf': ['[DEFAULT]\ndebug = true\n', 0o644] });
    const open = loadConfig(['--config-file', join(d, 'open.conf')], {}, opts());
    assert.deepEqual(
      open.warnings!.filter((w) => w.includes('readable by group/others')),
      [`kuryr.conf: ${join(d, 'open.conf')} holds credentials ([neutron] password) but is readable by group/others (mode 0644); run chmod 600 ${join(d, 'open.conf')}`],
    );
    const closed = loadConfig(['--config-file', join(d, 'closed.conf'), '--config-file', join(d, 'nosecret.conf')], {}, opts());
    assert.deepEqual(closed.warnings, []);
  });
});
