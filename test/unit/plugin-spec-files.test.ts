/**
 * Docker's plugin spec files: Kuryr writes its own `.json` for a TCP listener and replaces only files
 * it wrote itself. A spec file it did not write (upstream kuryr-libnetwork's
 * `/usr/lib/docker/plugins/kuryr/kuryr.spec`) is left in place, and when Docker would use it for a
 * driver name Kuryr serves, Kuryr warns the operator to remove it. Docker's spec directories are
 * temporary ones here.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { PluginServer, type ListenOptions } from '../../src/libnetwork/server.js';
import { silentLogger } from '../../src/log.js';
import { captureLogger } from './openstack-fake-servers.js';
import { freePort } from './tls-fixtures.js';

const UPSTREAM_SPEC = 'http://127.0.0.1:23750\n';
const protocol = new PluginProtocol({} as NetworkDriver, {} as IpamDriver, silentLogger);
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Docker's two spec roots (as /etc/docker/plugins and /usr/lib/docker/plugins) and a socket directory, all fresh. */
async function host() {
  const dir = await mkdtemp(join(tmpdir(), 'kuryr-spec-'));
  dirs.push(dir);
  const etc = join(dir, 'etc');
  const usr = join(dir, 'usr');
  await Promise.all([mkdir(join(etc), { recursive: true }), mkdir(join(usr, 'kuryr'), { recursive: true }), mkdir(join(dir, 'run'))]);
  return { etc, usr, socketPath: join(dir, 'run', 'kuryr.sock'), roots: [etc, usr] };
}

/** Starts a server as kuryr-server would with these options, and returns its warnings once started. */
async function start(opts: Partial<ListenOptions> & { discoveryRoots: readonly string[] }): Promise<{ warnings: string[]; uri: string; server: PluginServer }> {
  const { logger, text } = captureLogger();
  const server = new PluginServer(protocol, logger);
  const uri = opts.uri ?? '';
  await server.listen({ socketPath: '', specDir: '', pluginName: 'kuryr', ...opts, uri });
  const warnings = text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg);
  return { warnings, uri, server };
}

const specWarnings = (warnings: string[]) => warnings.filter((w) => /plugin spec file Kuryr did not write/.test(w));

test("upstream's kuryr.spec is left in place, and Kuryr warns that Docker uses it when Kuryr's socket is missing", async () => {
  const h = await host();
  const upstream = join(h.usr, 'kuryr', 'kuryr.spec');
  await writeFile(upstream, UPSTREAM_SPEC);
  const uri = `http://127.0.0.1:${await freePort()}`;
  const { warnings, server } = await start({ socketPath: h.socketPath, uri, specDir: join(h.usr, 'kuryr'), discoveryRoots: h.roots });
  try {
    assert.equal(await readFile(upstream, 'utf8'), UPSTREAM_SPEC, 'the file Kuryr did not write is untouched');
    assert.deepEqual(JSON.parse(await readFile(join(h.usr, 'kuryr', 'kuryr.json'), 'utf8')), { Name: 'kuryr', Addr: uri }, "Kuryr's own spec is written beside it");
    const [warning, ...more] = specWarnings(warnings);
    assert.deepEqual(more, []);
    assert.match(warning!, new RegExp(`^${upstream.replaceAll('.', '\\.')} is a plugin spec file Kuryr did not write \\(address http://127\\.0\\.0\\.1:23750\\): Docker uses it for driver "kuryr" whenever Kuryr's socket .*kuryr\\.sock is missing .*; remove it`));
  } finally {
    await server.close();
  }
});

test('with only the unix socket, a foreign spec for its name is warned about and left; one for another name is not', async () => {
  const h = await host();
  await writeFile(join(h.etc, 'kuryr.json'), JSON.stringify({ Name: 'kuryr', Addr: 'tcp://10.0.0.9:2375' }, null, 2));
  await writeFile(join(h.etc, 'other.spec'), UPSTREAM_SPEC);
  const { warnings, server } = await start({ socketPath: h.socketPath, discoveryRoots: h.roots });
  await server.close();
  assert.equal(specWarnings(warnings).length, 1);
  assert.match(specWarnings(warnings)[0]!, /etc\/kuryr\.json is a plugin spec file Kuryr did not write \(address tcp:\/\/10\.0\.0\.9:2375\)/);
  assert.equal(await readFile(join(h.etc, 'other.spec'), 'utf8'), UPSTREAM_SPEC);
});

test("Kuryr replaces its own spec from an earlier run, but not a hand-written one at the same path (with a warning)", async () => {
  const h = await host();
  const json = join(h.usr, 'kuryr', 'kuryr.json');
  await writeFile(json, JSON.stringify({ Name: 'kuryr', Addr: 'http://127.0.0.1:1' }) + '\n');
  const first = await start({ uri: `http://127.0.0.1:${await freePort()}`, specDir: join(h.usr, 'kuryr'), discoveryRoots: h.roots });
  await first.server.close();
  assert.deepEqual(JSON.parse(await readFile(json, 'utf8')), { Name: 'kuryr', Addr: first.uri }, 'an earlier run of Kuryr wrote it: replaced');
  assert.deepEqual(specWarnings(first.warnings), []);

  const handWritten = JSON.stringify({ Name: 'kuryr', Addr: 'http://192.0.2.7:23750' }, null, 2);
  await writeFile(json, handWritten);
  const second = await start({ uri: `http://127.0.0.1:${await freePort()}`, specDir: join(h.usr, 'kuryr'), discoveryRoots: h.roots });
  await second.server.close();
  assert.equal(await readFile(json, 'utf8'), handWritten, 'not replaced');
  assert.match(specWarnings(second.warnings).join('\n'), /kuryr\.json is a plugin spec file Kuryr did not write \(address http:\/\/192\.0\.2\.7:23750\): Docker uses it for driver "kuryr" instead of the spec Kuryr would write there/);
});

test("a foreign spec that names Kuryr's own address earns no warning", async () => {
  const h = await host();
  const uri = `http://127.0.0.1:${await freePort()}`;
  await writeFile(join(h.usr, 'kuryr', 'kuryr.spec'), `${uri}\n`);
  const { warnings, server } = await start({ uri, specDir: join(h.usr, 'kuryr'), discoveryRoots: h.roots });
  await server.close();
  assert.deepEqual(specWarnings(warnings), []);
  assert.equal(await readFile(join(h.usr, 'kuryr', 'kuryr.spec'), 'utf8'), `${uri}\n`);
});
