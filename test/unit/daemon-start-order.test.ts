/**
 * The daemon listens before it waits for the cloud: a managed plugin's `docker plugin enable` fails
 * unless Docker's capability calls are answered within seconds, whether Keystone and Neutron are up
 * or not. Calls that need Neutron wait for the start and fail with its error when it fails.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { buildDaemon } from '../../src/daemon.js';
import { KuryrError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { configDirs } from './config-fixtures.js';

const dir = configDirs('kuryr-start-order-');

describe('daemon start-up order', () => {
  it("answers Docker's handshakes while it still waits for Neutron, and holds the other calls until the start fails", async () => {
    const d = dir();
    const socketPath = join(d, 'kuryr-libnetwork.sock');
    const conf = dir({
      'kuryr.conf': [
        '[DEFAULT]',
        `socket_path = ${socketPath}`,
        'plugin_spec_dir =',
        'capability_scope = global',
        '[neutron]',
        'auth_type = password',
        // Nothing answers here: the start below never reaches it anyway.
        'auth_url = http://127.0.0.1:9/v3',
        'username = kuryr',
        'password = secret',
        'project_name = service',
        'user_domain_name = Default',
        'project_domain_name = Default',
      ].join('\n'),
    });
    const config = loadConfig(['--config-file', join(conf, 'kuryr.conf')], {}, { binaryName: 'kuryr-server' });
    const daemon = buildDaemon(config, silentLogger);
    after(() => daemon.close());

    let failStart!: (err: Error) => void;
    const cloud = new Promise<void>((_, reject) => (failStart = reject));
    let listening!: (addresses: string[]) => void;
    const opened = new Promise<string[]>((resolve) => (listening = resolve));
    const started = daemon.listen({ waitForCloud: () => cloud, onListening: listening });

    assert.deepEqual(await opened, [`unix://${socketPath}`]);
    const call = (method: string, body?: unknown) => unixJson(socketPath, 'POST', `/${method}`, body, 30_000);
    assert.deepEqual(await call('NetworkDriver.GetCapabilities'), { status: 200, body: { Scope: 'global', ConnectivityScope: 'global' } });
    assert.equal((await call('IpamDriver.GetCapabilities')).status, 200);
    assert.deepEqual((await call('IpamDriver.GetDefaultAddressSpaces')).body, { LocalDefaultAddressSpace: 'no_address_space', GlobalDefaultAddressSpace: 'no_address_space' });

    // A call needing Neutron is held: it is answered only once the start has settled, with its error.
    let answered = false;
    const held = call('IpamDriver.RequestPool', { AddressSpace: 'no_address_space', Pool: '10.99.0.0/24', SubPool: '', Options: {}, V6: false }).finally(() => (answered = true));
    assert.equal((await call('NetworkDriver.GetCapabilities')).status, 200, 'handshakes are still served meanwhile');
    assert.equal(answered, false, 'RequestPool waits for the start');
    failStart(new KuryrError('KURYR_ERR_CONFIG', 'Neutron lacks extensions Kuryr requires: subnet_allocation'));
    await assert.rejects(started, /Neutron lacks extensions/);
    const reply = await held;
    assert.notEqual(reply.status, 200);
    assert.match(String((reply.body as { Err?: string }).Err), /Neutron lacks extensions Kuryr requires: subnet_allocation/);
  });
});
