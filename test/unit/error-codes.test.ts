/**
 * The error codes: each answers Docker with one status, whoever raises it, and the README's
 * "Error codes" table is exactly ERROR_CODES (src/errors.ts), the codes' single source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES, KuryrError, type KuryrErrorCode } from '../../src/errors.js';
import { encodeError } from '../../src/libnetwork/protocol.js';

/** What Docker sees per code, written out: a change to a status is a visible change to review. */
const EXPECTED_STATUS: Record<KuryrErrorCode, number> = {
  KURYR_ERR_INVALID_REQUEST: 400,
  KURYR_ERR_FORBIDDEN: 403,
  KURYR_ERR_NOT_FOUND: 404,
  KURYR_ERR_METHOD_NOT_ALLOWED: 405,
  KURYR_ERR_REQUEST_TIMEOUT: 408,
  KURYR_ERR_CONFLICT: 409,
  KURYR_ERR_TOO_LARGE: 413,
  KURYR_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  KURYR_ERR_INTERNAL: 500,
  KURYR_ERR_BINDING: 500,
  KURYR_ERR_CONFIG: 500,
  KURYR_ERR_NEUTRON: 502,
  KURYR_ERR_AUTH: 502,
  KURYR_ERR_OVERLOADED: 503,
  KURYR_ERR_TIMEOUT: 504,
};

test('every code is answered with its status and its message, in the network and the IPAM shape', () => {
  assert.deepEqual(Object.keys(ERROR_CODES).sort(), Object.keys(EXPECTED_STATUS).sort());
  for (const code of Object.keys(ERROR_CODES) as KuryrErrorCode[]) {
    const err = new KuryrError(code, `what went wrong (${code})`);
    assert.deepEqual(encodeError('NetworkDriver', err), { status: EXPECTED_STATUS[code], body: { Err: err.message } }, code);
    assert.deepEqual(encodeError('IpamDriver', err), { status: EXPECTED_STATUS[code], body: { Err: err.message, Error: err.message } }, code);
  }
});

test('anything that is not a KuryrError is answered 500 "internal error: ..."', () => {
  assert.deepEqual(encodeError('NetworkDriver', new TypeError('x is not a function')), { status: 500, body: { Err: 'internal error: x is not a function' } });
  assert.deepEqual(encodeError('NetworkDriver', 'a thrown string'), { status: 500, body: { Err: 'internal error: a thrown string' } });
});

/** The README table as ERROR_CODES renders it. */
function renderTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, c]) => `| \`${code}\` | ${c.status} | ${c.meaning} | ${c.action} |`);
  return ['| Code | HTTP status | Meaning | What the operator does |', '|---|---|---|---|', ...rows].join('\n');
}

test('the README\'s "Error codes" section lists exactly the codes of src/errors.ts', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.search(/^## Error codes$/m);
  assert.notEqual(start, -1, 'README.md has a "## Error codes" section');
  const section = readme.slice(start).split(/\n## /)[0] ?? '';
  assert.ok(section.includes(renderTable()), `the "Error codes" section holds this table, as ERROR_CODES in src/errors.ts renders it:\n${renderTable()}`);
});
