/**
 * `kuryr config sample`: the annotated kuryr.conf an operator starts from. It must list every option
 * the daemon reads, in the section the daemon reads it from, at the default the daemon uses, never
 * show a secret, and the copy shipped in etc/ must be the one the code generates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig, parseIni, type KuryrConfig } from '../../src/config/index.js';
import { GROUPS, type OptDef } from '../../src/config/options.js';
import { configSample } from '../../src/config/sample.js';
import { AUTH, configDirs, hermeticLoad } from './config-fixtures.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const KURYR_CLI = fileURLToPath(new URL('../../src/cli/kuryr.js', import.meta.url));
const SHIPPED_SAMPLE = join(REPO, 'etc', 'kuryr.conf.sample');
const dir = configDirs('kuryr-config-sample-');
const sample = configSample();

/** Section → the option names set (commented out) in it, in file order, duplicates kept. */
function optionLines(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section: string[] | undefined;
  for (const line of text.split('\n')) {
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!;
      section = out.get(name) ?? [];
      out.set(name, section);
      continue;
    }
    const opt = /^#([a-z0-9_]+) =/.exec(line);
    if (opt) {
      assert.ok(section, `option line before any section: ${line}`);
      section.push(opt[1]!);
    }
  }
  return out;
}

/** The sample as an operator would enable it: every `#name = value` line uncommented, `<None>` ones left out. */
function uncomment(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^#([a-z0-9_]+) =(?: (.*))?$/.exec(line);
      if (!m || m[2] === '<None>') return line;
      return `${m[1]} = ${m[2] ?? ''}`;
    })
    .join('\n');
}

const hermetic = hermeticLoad();

function withoutSources(config: KuryrConfig): Omit<KuryrConfig, 'sources'> {
  const { sources: _sources, ...rest } = config;
  return rest;
}

describe('kuryr config sample', () => {
  it('lists every option of the table exactly once, in its own section, and no option the table lacks', () => {
    const found = optionLines(sample);
    assert.deepEqual([...found.keys()], Object.keys(GROUPS), 'the sections, in the order of the table');
    for (const [section, opts] of Object.entries(GROUPS)) {
      assert.deepEqual(found.get(section), opts.map((o) => o.name), `[${section}]`);
    }
  });

  it('gives each option its help text and type, from the table', () => {
    for (const [section, opts] of Object.entries(GROUPS)) {
      for (const opt of opts) {
        assert.ok(opt.help && opt.help.trim().length > 0, `[${section}] ${opt.name} has no help text in src/config/options.ts`);
        const block = blockOf(sample, section, opt.name);
        const prose = block.filter((l) => l.startsWith('# ')).map((l) => l.slice(2)).join(' ');
        assert.ok(prose.includes(opt.help.trim()), `[${section}] ${opt.name}: its help is in its comment block`);
        assert.match(prose, { str: /\(string value/, bool: /\(boolean value/, int: /\(integer value/, list: /\(list value/ }[opt.kind], `[${section}] ${opt.name}: type`);
      }
    }
  });

  it('shows every default as the daemon uses it: uncommented, the sample sets each option to what the loader uses without it', () => {
    const parsed = parseIni(uncomment(sample), 'sample');
    for (const [section, opts] of Object.entries(GROUPS)) {
      for (const opt of opts) {
        const set = parsed.sections.get(section)?.get(opt.name)?.value;
        assert.equal(set, opt.secret ? undefined : opt.default, `[${section}] ${opt.name}`);
      }
    }
    const d = dir({ 'sample.conf': uncomment(sample), 'auth.conf': AUTH });
    const warnings: string[] = [];
    const fromSample = loadConfig(['--config-file', join(d, 'sample.conf'), '--config-file', join(d, 'auth.conf')], {}, { ...hermetic, onWarning: (w) => warnings.push(w) });
    const fromNothing = loadConfig(['--config-file', join(d, 'auth.conf')], {}, hermetic);
    assert.deepEqual(withoutSources(fromSample), withoutSources(fromNothing));
    assert.deepEqual(warnings, [], 'the defaults, written out, earn no warning');
  });

  it('never shows the value of a secret option, even one that has a default', () => {
    const secrets = Object.entries(GROUPS).flatMap(([section, opts]) => opts.filter((o) => o.secret).map((o) => [section, o] as const));
    assert.deepEqual(secrets.map(([, o]) => o.name).sort(), ['application_credential_secret', 'password', 'token']);
    for (const [section, opt] of secrets) {
      assert.deepEqual(blockOf(sample, section, opt.name).at(-1), `#${opt.name} = <None>`);
    }
    const table: Record<string, readonly OptDef[]> = {
      vault: [
        { name: 'master_key', kind: 'str', default: 'hunter2-default', secret: true, help: 'The key.' },
        { name: 'public_name', kind: 'str', default: 'visible-default', help: 'Not secret.' },
      ],
    };
    const text = configSample(table);
    assert.doesNotMatch(text, /hunter2/);
    assert.match(text, /^#master_key = <None>$/m);
    assert.match(text, /secret/);
    assert.match(text, /^#public_name = visible-default$/m, 'a non-secret default is shown');
  });

  it('is what etc/kuryr.conf.sample holds (regenerate with: npm run config-sample)', () => {
    assert.equal(readFileSync(SHIPPED_SAMPLE, 'utf8'), sample, `${SHIPPED_SAMPLE} is stale: run npm run config-sample and commit it`);
  });

  it('is what `kuryr config sample` prints', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KURYR_CLI, 'config', 'sample'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
    assert.equal(stderr, '');
    assert.equal(stdout, sample);
  });
});

/** The comment block and option line of `[section] name`. */
function blockOf(text: string, section: string, name: string): string[] {
  const start = text.indexOf(`[${section}]\n`);
  assert.ok(start >= 0, `[${section}] in the sample`);
  const next = text.indexOf('\n[', start + 1);
  const body = text.slice(start, next < 0 ? undefined : next).trimEnd().split('\n\n');
  const block = body.find((b) => b.split('\n').at(-1)!.startsWith(`#${name} =`));
  assert.ok(block, `[${section}] ${name} in the sample`);
  return block.split('\n');
}
