/**
 * README.md's command blocks, taken from README.md itself, so the document a newcomer follows
 * cannot drift from what works: the walk-through's blocks run, in order, in one bash session
 * against the stack's daemon; the blocks that cannot run inside a test (the two commands: the test
 * run itself) are checked against the files they name; any other command block fails this test
 * until it is added here.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { idTags } from '../../src/libnetwork/naming.js';
import { BLOCKS, README, RUN_ELSEWHERE, command, commands } from './readme-blocks.js';
import { REPO, docker, neutron, removeQuietly } from './harness.js';

const RUN_SECTION = 'Walk-through';
const CHECKED_SECTION = 'The two commands';

/**
 * Lines of the walk-through that the test does not run as written: `npm test` (scripts/test.sh) ran
 * `bash scripts/stack.sh up` before any test, and running it again here could restart services
 * other tests are using; `status` checks the outcome `up` guarantees (every service running).
 */
const SUBSTITUTES: Record<string, string> = { 'bash scripts/stack.sh up': 'bash scripts/stack.sh status' };

/** What the walk-through creates, removed whatever happens to the run. */
after(async () => {
  await removeQuietly('container', 'c1', 'c2');
  await removeQuietly('network', 'n1');
});

/** One bash session fed block after block; a failing command (set -euo pipefail) ends it. */
class Session {
  readonly #bash = spawn('bash', ['--noprofile', '--norc'], {
    cwd: REPO,
    // /usr/bin first: `docker` is then Debian's client, which speaks dockerd 20.10's API.
    env: { PATH: '/usr/bin:/usr/sbin:/bin:/sbin:/usr/local/bin', HOME: process.env['HOME'] ?? '/root', LANG: 'C.UTF-8' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  #out = '';
  #err = '';
  #exit: number | null | undefined;

  constructor() {
    this.#bash.stdout.on('data', (d: Buffer) => (this.#out += d.toString()));
    this.#bash.stderr.on('data', (d: Buffer) => (this.#err += d.toString()));
    this.#bash.on('exit', (code) => (this.#exit = code));
    this.#bash.stdin.write('set -euo pipefail\n');
  }

  /** Runs `script`; resolves to its output once bash has run all of it, fails if bash exits. */
  async run(script: string, timeoutMs: number): Promise<string> {
    const marker = `__readme_block_done_${Math.random().toString(36).slice(2)}__`;
    const from = this.#out.length;
    this.#bash.stdin.write(`${script}\necho ${marker}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.#out.includes(marker, from)) {
      if (this.#exit !== undefined) assert.fail(`bash exited with ${this.#exit} running:\n${script}\nstdout:\n${this.#out.slice(from)}\nstderr:\n${this.#err}`);
      if (Date.now() > deadline) assert.fail(`not done within ${timeoutMs / 1000} s:\n${script}\nstderr:\n${this.#err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.#out.slice(from, this.#out.indexOf(marker, from));
  }

  close(): void {
    this.#bash.stdin.end();
  }
}

test('README.md: every command block is either run here or checked here', () => {
  const unhandled = BLOCKS.filter((b) => b.section !== RUN_SECTION && b.section !== CHECKED_SECTION && !(b.section in RUN_ELSEWHERE));
  assert.deepEqual(
    unhandled.map((b) => `line ${b.line} (under "${b.section}"): ${b.text.split('\n')[0]}`),
    [],
    'README.md command blocks that test/functional/readme.test.ts neither runs nor checks: run or check them there',
  );
  assert.equal(BLOCKS.filter((b) => b.section === CHECKED_SECTION).length, 1);
  assert.ok(BLOCKS.filter((b) => b.section === RUN_SECTION).length >= 1);
});

test('README.md: each install section is run as written by the functional test that owns it', () => {
  for (const [section, file] of Object.entries(RUN_ELSEWHERE)) {
    assert.ok(BLOCKS.some((b) => b.section === section), `README.md has a command block under "${section}"`);
    const source = readFileSync(`${REPO}test/${file}`, 'utf8');
    assert.ok(source.includes('readmeCommands(') && source.includes(`'${section}'`), `${file} runs the README's "${section}" block (readmeCommands)`);
  }
});

test('README.md "The two commands": what they run is what .ci/run and scripts/test.sh run', () => {
  const [block] = BLOCKS.filter((b) => b.section === CHECKED_SECTION);
  assert.deepEqual(commands(block!), ['bash scripts/stack.sh up', 'npm test']);
  // Command two is this very test run: CI runs it, and it runs command one first.
  const ci = readFileSync(`${REPO}.ci/run`, 'utf8');
  assert.match(ci, /^npm test$/m, '.ci/run runs `npm test`');
  const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['test'], 'bash scripts/test.sh');
  const testSh = readFileSync(`${REPO}scripts/test.sh`, 'utf8');
  assert.match(testSh, /^bash scripts\/stack\.sh up$/m, 'scripts/test.sh brings the stack up');
  assert.ok(testSh.indexOf('bash scripts/stack.sh up') < testSh.indexOf('node --test'), 'before the tests run');
});

test('README.md: every `npm run`/`npm test` script and scripts/*.sh file it names exists', () => {
  const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { scripts: Record<string, string> };
  const npmScripts = [...README.matchAll(/\bnpm run ([\w:-]+)/g)].map((m) => m[1]!);
  assert.ok(npmScripts.includes('bench'), 'the benchmark is run with npm run bench');
  for (const name of npmScripts) assert.ok(pkg.scripts[name], `package.json has the script "${name}" (README: npm run ${name})`);
  for (const [, file] of README.matchAll(/\b(scripts\/[\w./-]+\.sh)\b/g)) assert.ok(existsSync(`${REPO}${file}`), `${file} exists`);
});

test('README.md walk-through: its blocks run, in order, against the stack, and leave nothing in Neutron', async () => {
  const blocks = BLOCKS.filter((b) => b.section === RUN_SECTION);
  const session = new Session();
  try {
    let dockerId = '';
    let neutronId = '';
    for (const [i, block] of blocks.entries()) {
      const script = block.text
        .split('\n')
        .map((l) => SUBSTITUTES[command(l)] ?? l)
        .join('\n');
      const isLast = i === blocks.length - 1;
      if (isLast) {
        // What the walk-through made, before its last block removes it: n1 and the containers' ports.
        dockerId = await docker('network', 'inspect', '-f', '{{.Id}}', 'n1');
        const [net] = await neutron.listNetworks({ tags: idTags(dockerId).join(',') });
        assert.ok(net, 'n1 has its Neutron network');
        neutronId = net.id;
        const ports = await neutron.listPorts({ network_id: neutronId, device_owner: 'compute:kuryr' });
        assert.equal(ports.length, 2, 'one Neutron port per container');
      }
      const out = await session.run(script, 300_000);
      if (isLast) assert.match(out, new RegExp(`kuryr-net-${dockerId.slice(0, 8)}`), 'openstack network list shows the Neutron network');
    }
    assert.ok(neutronId, 'the walk-through created network n1');
    assert.deepEqual(await neutron.listNetworks({ tags: idTags(dockerId).join(',') }), [], 'the Neutron network is gone');
    assert.deepEqual(await neutron.listPorts({ network_id: neutronId }), [], 'and so are its ports');
  } finally {
    session.close();
  }
});
