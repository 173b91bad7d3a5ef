/**
 * What the daemon's log file never holds: a credential field's value, in any case, at any depth,
 * whoever wrote the object; a URL's user-info inside any string. And who may read the file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once, type EventEmitter } from 'node:events';
import { join } from 'node:path';
import { symbols } from 'pino';
import { createLogger, type Logger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'kuryr-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Logs through the daemon's own logger into a fresh file and returns the file's text. */
async function logged(write: (log: Logger) => void, file = join(dir, `kuryr-${n++}.log`)): Promise<string> {
  const log = createLogger({ debug: true, file });
  write(log);
  // The file is written asynchronously, as the daemon's is: closing it waits for every line.
  const stream = (log as unknown as Record<symbol, EventEmitter & { end(): void }>)[symbols.streamSym]!;
  const closed = once(stream, 'close');
  stream.end();
  await closed;
  return readFileSync(file, 'utf8');
}

const SECRETS = {
  password: 'pw-lower-1',
  Password: 'pw-capital-2',
  OS_PASSWORD: 'pw-env-3',
  application_credential_secret: 'acs-snake-4',
  applicationCredentialSecret: 'acs-camel-5',
  token: 'tok-6',
  'X-Auth-Token': 'tok-header-7',
  authorization: 'Bearer auth-8',
  Secret_Token: 'secret-token-9',
  'x-subject-token': 'gAAAAAsubject10',
};

test('credential fields are redacted in any case and at any depth, in objects, arrays, bindings and errors', async () => {
  const text = await logged((log) => {
    log.info({ ...SECRETS }, 'flat');
    log.debug({ request: { Options: { 'com.docker.network.generic': { ...SECRETS } } } }, 'docker call request');
    log.debug({ a: { b: { c: { d: { e: { PASSWORD: 'pw-deep-11' } } } } } }, 'deep');
    log.debug({ list: [{ auth: { identity: { password: { user: { name: 'kuryr', password: 'pw-keystone-12' } } } } }] }, 'keystone body');
    log.child({ Token: 'tok-binding-13' }).info('bound');
    const err = Object.assign(new Error('refused'), { applicationCredentialSecret: 'acs-error-14' });
    log.warn({ err }, 'failed');
  });
  const values = [...Object.values(SECRETS), 'pw-deep-11', 'pw-keystone-12', 'tok-binding-13', 'acs-error-14'];
  for (const v of values) assert.equal(text.includes(v), false, `${v} is in the log:\n${text}`);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 6, 'every line is still written, as JSON');
  const flat = lines[0]!;
  for (const k of Object.keys(SECRETS)) assert.equal(flat[k], '***', k);
  assert.deepEqual((lines[1]!['request'] as Record<string, Record<string, Record<string, unknown>>>)['Options']!['com.docker.network.generic']!['OS_PASSWORD'], '***');
  assert.equal(lines[4]!['msg'], 'bound');
  assert.equal((lines[5]!['err'] as Record<string, unknown>)['message'], 'refused', 'the rest of an error is kept');
});

test('user-info of URLs inside logged strings is removed, the rest of the URL kept', async () => {
  const text = await logged((log) => {
    log.info(`connecting to amqp://guest:rabbit-pw-1@127.0.0.1:5672/ and http://kuryr:ks-pw-2@ctrl:5000/v3`);
    log.info({ dockerHost: 'tcp://u:docker-pw-3@10.0.0.1:2376', nested: [{ why: 'see https://a:b-pw-4@x.example/path' }] }, 'docker');
  });
  for (const v of ['rabbit-pw-1', 'ks-pw-2', 'docker-pw-3', 'b-pw-4']) assert.equal(text.includes(v), false, `${v} is in the log:\n${text}`);
  assert.match(text, /amqp:\/\/\*\*\*@127\.0\.0\.1:5672\/ and http:\/\/\*\*\*@ctrl:5000\/v3/);
  assert.match(text, /"dockerHost":"tcp:\/\/\*\*\*@10\.0\.0\.1:2376"/);
});

test('values that only look like credentials stay: names, paths, empty fields', async () => {
  const text = await logged((log) => log.info({ network: 'token-ring', ssl_cert_file: '/etc/kuryr/cert.pem', password: '', url: 'http://ctrl:5000/v3' }, 'kept'));
  const line = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual([line['network'], line['ssl_cert_file'], line['password'], line['url']], ['token-ring', '/etc/kuryr/cert.pem', '', 'http://ctrl:5000/v3']);
});

test('a log file is created readable by its owner only, and an older wider one is tightened', async () => {
  const fresh = join(dir, 'fresh', 'kuryr-server.log');
  await logged((log) => log.info('hello'), fresh);
  assert.equal(statSync(fresh).mode & 0o777, 0o600);

  const old = join(dir, 'old.log');
  writeFileSync(old, '');
  chmodSync(old, 0o644);
  await logged((log) => log.info('hello'), old);
  assert.equal(statSync(old).mode & 0o777, 0o600);
});
