/**
 * The plugin's unix socket is never reachable by others, not even for a moment at start: whatever
 * the process umask, every time the socket's path appears it is already mode 0600.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { PluginServer } from '../../src/libnetwork/server.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { silentLogger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'kuryr-socket-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const protocol = new PluginProtocol({} as NetworkDriver, {} as IpamDriver, silentLogger);

test('the socket appears with mode 0600 even under a umask that would make it world-writable, and goes at close', async () => {
  const socketPath = join(dir, 'kuryr.sock');
  // Another process stats the path as fast as it can while the server starts: a chmod after
  // listen leaves a window of a fraction of a millisecond, which this loop sees.
  const watcher = spawn(process.execPath, ['-e', `
    const { statSync } = require('node:fs');
    const seen = new Set();
    process.stdout.write('ready\\n');
    for (const end = Date.now() + 2000; Date.now() < end; ) {
      try { seen.add(statSync(${JSON.stringify(socketPath)}).mode & 0o777); } catch {}
    }
    process.stdout.write(JSON.stringify([...seen]));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = once(watcher, 'close');
  let out = '';
  watcher.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  while (!out.startsWith('ready')) await once(watcher.stdout!, 'data');
  const umask = process.umask(0);
  const server = new PluginServer(protocol, silentLogger);
  try {
    await server.listen({ socketPath, uri: '', specDir: '', pluginName: 'kuryr' });
  } finally {
    process.umask(umask);
  }
  await done;
  try {
    assert.deepEqual(JSON.parse(out.slice('ready\n'.length)), [0o600], 'every mode the socket was seen with');
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    assert.equal((await unixJson(socketPath, 'POST', '/Plugin.Activate')).status, 200, 'the renamed socket is served');
    assert.deepEqual(readdirSync(dir), ['kuryr.sock'], 'nothing else is left beside it');
  } finally {
    await server.close();
  }
  assert.deepEqual(readdirSync(dir), [], 'close removes the socket');
});

test('a stale socket at the path is replaced', async () => {
  const socketPath = join(dir, 'stale.sock');
  const first = new PluginServer(protocol, silentLogger);
  await first.listen({ socketPath, uri: '', specDir: '', pluginName: 'kuryr' });
  const second = new PluginServer(protocol, silentLogger);
  try {
    await second.listen({ socketPath, uri: '', specDir: '', pluginName: 'kuryr' });
    // The first daemon stopping later must not take the second one's socket with it.
    await first.close();
    assert.equal((await unixJson(socketPath, 'POST', '/Plugin.Activate')).status, 200);
  } finally {
    await first.close();
    await second.close();
  }
});
