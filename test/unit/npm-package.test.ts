/**
 * The npm package as an operator installs it, by the README's "Install from the npm package" lines: `npm pack` of this tree (with this build as dist/), then
 * `npm install -g --prefix <tmp>` of the tarball (runtime dependencies from npm's cache, else the
 * registry), then the installed bins. Needs no stack.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { configSample } from '../../src/config/sample.js';
import { readmeCommands } from '../functional/readme-blocks.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** This build's output dir (dist/ under scripts/test.sh, dist-<name>/ for a private build). */
const BUILD = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
const exec = promisify(execFile);
const INSTALL_SECTION = 'Install from the npm package';
/** Never copied into the staged tree: dependencies, builds, VCS, the dev stack's state. */
const NOT_STAGED = new Set(['node_modules', '.git', '.stack']);

/** What the tarball may hold: the built code, the sample config, the units and the package's own files. */
const ALLOWED = [/^dist\/src\/.+\.js$/, /^etc\/kuryr\.conf\.sample$/, /^packaging\/systemd\/[^/]+$/, /^(package\.json|README\.md|LICENSE)$/];

describe('the npm package', () => {
  let tmp = '';
  let files: string[] = [];
  let tarball = '';
  let installWarnings = '';
  const prefix = () => join(tmp, 'prefix');

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'kuryr-npm-'));
    const stage = join(tmp, 'stage');
    // The repository as `npm pack` sees it, with this build as dist/ (scripts/test.sh builds into dist/ itself).
    cpSync(REPO, stage, { recursive: true, filter: (src) => !(NOT_STAGED.has(basename(src)) || /^dist(-.*)?$/.test(basename(src))) });
    cpSync(BUILD, join(stage, 'dist'), { recursive: true });
    // The README's two lines, as written but for: --ignore-scripts (prepack would build again; this
    // build is the one under test), --json (to read the file list), and a temporary prefix.
    const [pack, install] = readmeCommands(INSTALL_SECTION);
    assert.equal(pack, 'npm pack', `${INSTALL_SECTION}: first line`);
    assert.equal(install, `npm install -g --prefix /usr/local ./${pkg.name}-${pkg.version}.tgz`, `${INSTALL_SECTION}: second line names this version's tarball`);
    const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json'], { cwd: stage, timeout: 120_000 });
    const packed = (JSON.parse(stdout) as { filename: string; files: { path: string }[] }[])[0]!;
    files = packed.files.map((f) => f.path).sort();
    tarball = join(stage, packed.filename);
    const args = install!.split(' ').slice(1).map((a) => (a === '/usr/local' ? prefix() : a));
    const installed = await exec('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'], { cwd: stage, timeout: 300_000 });
    installWarnings = installed.stderr;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs on this Node.js without an engine warning (no dependency asks for a newer Node)', () => {
    assert.doesNotMatch(installWarnings, /EBADENGINE/, installWarnings);
  });

  it('holds the bins, the sample config, the systemd units, LICENSE and README, and no sources, tests or source maps', () => {
    for (const f of ['dist/src/cli/kuryr-server.js', 'dist/src/cli/kuryr.js', 'dist/src/daemon.js', 'etc/kuryr.conf.sample', 'packaging/systemd/kuryr-libnetwork.service', 'packaging/systemd/kuryr-libnetwork.socket', 'LICENSE', 'README.md', 'package.json']) {
      assert.ok(files.includes(f), `${f} is in ${basename(tarball)}`);
    }
    const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
    assert.deepEqual(unexpected, [], 'only the allowed files (no src/*.ts, test/, dist/test/, scripts/, bench/, *.map)');
  });

  it('installs kuryr-server, which prints the package version', async () => {
    const bin = join(prefix(), 'bin', 'kuryr-server');
    assert.ok(existsSync(bin), `${bin} installed`);
    const { stdout } = await exec(bin, ['--version'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp } });
    assert.equal(stdout, `${pkg.version}\n`);
  });

  it('installs kuryr, which prints the config sample of this build, and ships etc/kuryr.conf.sample and the unit as they are here', async () => {
    const { stdout } = await exec(join(prefix(), 'bin', 'kuryr'), ['config', 'sample'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp } });
    assert.equal(stdout, configSample());
    const installed = join(prefix(), 'lib', 'node_modules', pkg.name);
    // Whether etc/kuryr.conf.sample is current is config-sample.test.ts's question; here: shipped as is.
    assert.equal(readFileSync(join(installed, 'etc', 'kuryr.conf.sample'), 'utf8'), readFileSync(join(REPO, 'etc', 'kuryr.conf.sample'), 'utf8'));
    assert.equal(readFileSync(join(installed, 'packaging', 'systemd', 'kuryr-libnetwork.service'), 'utf8'), readFileSync(join(REPO, 'packaging', 'systemd', 'kuryr-libnetwork.service'), 'utf8'));
  });
});
