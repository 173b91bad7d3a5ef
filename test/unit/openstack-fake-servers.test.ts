/** The fakes behave like Keystone where the unit tests rely on it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, startFakeKeystone } from './openstack-fake-servers.js';

test('fake keystone issues a token in X-Subject-Token for the right password and 401 otherwise', async () => {
  const ks = await startFakeKeystone();
  try {
    const ok = await fetch(`${ks.url}/v3/auth/tokens`, {
      method: 'POST',
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { id: 'u', password: PASSWORD } } } } }),
    });
    assert.equal(ok.status, 201);
    assert.match(ok.headers.get('x-subject-token') ?? '', /^tok-1-/);
    const bad = await fetch(`${ks.url}/v3/auth/tokens`, {
      method: 'POST',
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { id: 'u', password: 'nope' } } } } }),
    });
    assert.equal(bad.status, 401);
  } finally {
    await ks.close();
  }
});
