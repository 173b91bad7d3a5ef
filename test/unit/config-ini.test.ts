import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIni } from '../../src/config/ini.js';
import { parseServerArgs } from '../../src/config/args.js';
import { parseOsloBool, parseOsloList } from '../../src/config/options.js';
import { KuryrError } from '../../src/errors.js';

const get = (text: string, section: string, key: string) => parseIni(text, '/x.conf').sections.get(section)?.get(key)?.value;

describe('oslo-style INI parsing', () => {
  it('keeps "#", ";", "=" and ":" that follow text in a value', () => {
    const text = '[neutron]\npassword = a#b;c=d:e\nauth_url = http://h:5000/v3 # not a comment\n';
    assert.equal(get(text, 'neutron', 'password'), 'a#b;c=d:e');
    assert.equal(get(text, 'neutron', 'auth_url'), 'http://h:5000/v3 # not a comment');
  });

  it('splits at the first "=" or ":", whichever comes first', () => {
    assert.equal(get('[a]\nk: v=1\n', 'a', 'k'), 'v=1');
    assert.equal(get('[a]\nk=v:1\n', 'a', 'k'), 'v:1');
    assert.equal(get('[a]\nk=\n', 'a', 'k'), '');
  });

  it('strips one pair of matching quotes and the spaces around key and value', () => {
    assert.equal(get('[a]\n  k  =   "quoted value"  \n'.replace('  k', 'k'), 'a', 'k'), 'quoted value');
    assert.equal(get("[a]\nk = 'x'\n", 'a', 'k'), 'x');
    assert.equal(get('[a]\nk = "x\'\n', 'a', 'k'), '"x\'');
  });

  it('skips # and ; comment lines and blank lines', () => {
    const f = parseIni('# c\n; c\n[DEFAULT]\n#debug = true\n\n;x=1\ndebug = false\n', '/x.conf');
    assert.deepEqual([...f.sections.get('DEFAULT')!.keys()], ['debug']);
  });

  it('joins indented continuation lines with a newline', () => {
    assert.equal(get('[a]\nk = one\n  two\n\tthree\n\nj = 1\n', 'a', 'k'), 'one\ntwo\nthree');
  });

  it('lower-cases section names except DEFAULT and merges repeated sections', () => {
    const f = parseIni('[Neutron]\na = 1\n[DEFAULT]\nb = 2\n[neutron]\nc = 3\n', '/x.conf');
    assert.deepEqual([...f.sections.keys()], ['neutron', 'DEFAULT']);
    assert.deepEqual([...f.sections.get('neutron')!.keys()], ['a', 'c']);
  });

  it('uses the last value of a repeated key and remembers all of them', () => {
    const e = parseIni('[a]\nk = 1\nk = 2\n', '/x.conf').sections.get('a')!.get('k')!;
    assert.equal(e.value, '2');
    assert.equal(e.line, 3);
    assert.deepEqual(e.values, ['1', '2']);
  });

  it('reports syntax errors with file and line but without the line text', () => {
    const cases: Array<[string, number]> = [
      ['[DEFAULT]\nhunter2-secret\n', 2],
      ['password = hunter2-secret\n', 1],
      ['[DEFAULT\n', 1],
      ['[]\n', 1],
      ['[a]\n= hunter2-secret\n', 2],
    ];
    for (const [text, line] of cases) {
      assert.throws(
        () => parseIni(text, '/etc/kuryr/kuryr.conf'),
        (e: Error) => e.message.startsWith(`/etc/kuryr/kuryr.conf:${line}:`) && !e.message.includes('hunter2'),
        text,
      );
    }
  });
});

describe('oslo value types', () => {
  it('parses booleans as oslo does, case-insensitively', () => {
    for (const v of ['true', 'True', 'YES', 'on', '1', ' yes ']) assert.equal(parseOsloBool(v), true, v);
    for (const v of ['false', 'False', 'no', 'OFF', '0']) assert.equal(parseOsloBool(v), false, v);
    for (const v of ['', 'maybe', 't', '2']) assert.equal(parseOsloBool(v), undefined, v);
  });

  it('parses lists as comma-separated, trimmed, without empty items', () => {
    assert.deepEqual(parseOsloList(' a, b ,,c, '), ['a', 'b', 'c']);
    assert.deepEqual(parseOsloList(''), []);
  });
});

describe('server arguments', () => {
  it('keeps --config-file and --config-dir in command-line order, in both spellings', () => {
    const a = parseServerArgs(['--config-file', '/a.conf', '--config-dir=/d', '--config-file=/b.conf', '--os-cloud', 'prod', '-d']);
    assert.deepEqual(a.configSources, [
      { kind: 'file', path: '/a.conf' },
      { kind: 'dir', path: '/d' },
      { kind: 'file', path: '/b.conf' },
    ]);
    assert.deepEqual(a.configFiles, ['/a.conf', '/b.conf']);
    assert.deepEqual(a.configDirs, ['/d']);
    assert.equal(a.osCloud, 'prod');
    assert.equal(a.debug, true);
    assert.equal(parseServerArgs(['--nodebug']).debug, false);
    assert.equal(parseServerArgs([]).debug, undefined);
  });

  it('rejects an unknown argument or a missing value, unless unknown ones are allowed', () => {
    assert.throws(() => parseServerArgs(['--bogus=s3cret']), (e: KuryrError) => e.code === 'KURYR_ERR_CONFIG' && e.message.includes('--bogus') && !e.message.includes('s3cret'));
    assert.throws(() => parseServerArgs(['--config-file']), /--config-file needs a value/);
    assert.throws(() => parseServerArgs(['--config-file', '--debug']), /--config-file needs a value/);
    assert.deepEqual(parseServerArgs(['status', '--debug'], { allowUnknown: true }).unknown, ['status']);
  });
});
