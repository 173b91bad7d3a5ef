import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KuryrError } from '../../src/errors.js';
import type { AuthConfig } from '../../src/config/types.js';
import { KeystoneSession, normaliseAuthUrl } from '../../src/openstack/keystone.js';
import { NeutronClient } from '../../src/openstack/neutron.js';
import { NeutronError } from '../../src/openstack/errors.js';
import {
  APP_SECRET,
  PASSWORD,
  STATIC_TOKEN,
  networkCatalog,
  passwordAuth,
  send,
  startFakeKeystone,
  startServer,
  type FakeKeystone,
} from './openstack-fake-servers.js';

const TLS = { insecure: false };

function session(auth: AuthConfig, extra: Partial<ConstructorParameters<typeof KeystoneSession>[0]> = {}): KeystoneSession {
  return new KeystoneSession({ auth, tls: TLS, timeout: 5, endpointType: 'public', ...extra });
}

async function authBodyFor(ks: FakeKeystone, auth: Partial<AuthConfig>): Promise<Record<string, any>> {
  const s = session({ authType: 'password', authUrl: `${ks.url}/v3`, ...auth } as AuthConfig);
  try {
    await s.getToken();
  } finally {
    await s.close();
  }
  return ks.authBodies.at(-1)!;
}

test('password auth by user name and domain, scoped to a project by name and domain', async () => {
  const ks = await startFakeKeystone();
  try {
    const body = await authBodyFor(ks, passwordAuth(ks.url));
    assert.deepEqual(body, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'kuryr', domain: { name: 'Default' }, password: PASSWORD } },
        },
        scope: { project: { name: 'service', domain: { name: 'Default' } } },
      },
    });
  } finally {
    await ks.close();
  }
});

test('password auth by user id, scoped to a project id', async () => {
  const ks = await startFakeKeystone();
  try {
    const body = await authBodyFor(ks, { authType: 'v3password', userId: 'u-1', password: PASSWORD, projectId: 'p-1' });
    assert.deepEqual(body.auth, {
      identity: { methods: ['password'], password: { user: { id: 'u-1', password: PASSWORD } } },
      scope: { project: { id: 'p-1' } },
    });
  } finally {
    await ks.close();
  }
});

test('user and project domains may be given by id', async () => {
  const ks = await startFakeKeystone();
  try {
    const body = await authBodyFor(ks, {
      username: 'kuryr',
      userDomainId: 'd-u',
      password: PASSWORD,
      projectName: 'svc',
      projectDomainId: 'd-p',
    });
    assert.deepEqual(body.auth.identity.password.user.domain, { id: 'd-u' });
    assert.deepEqual(body.auth.scope, { project: { name: 'svc', domain: { id: 'd-p' } } });
  } finally {
    await ks.close();
  }
});

test('domain scope, system scope, and no scope at all (unscoped)', async () => {
  const ks = await startFakeKeystone();
  try {
    const base = { userId: 'u', password: PASSWORD };
    assert.deepEqual((await authBodyFor(ks, { ...base, domainName: 'Default' })).auth.scope, { domain: { name: 'Default' } });
    assert.deepEqual((await authBodyFor(ks, { ...base, domainId: 'd-1' })).auth.scope, { domain: { id: 'd-1' } });
    assert.deepEqual((await authBodyFor(ks, { ...base, systemScope: 'all' })).auth.scope, { system: { all: true } });
    const unscoped = await authBodyFor(ks, base);
    assert.equal('scope' in unscoped.auth, false);
  } finally {
    await ks.close();
  }
});

test('token auth sends the token method and the project scope', async () => {
  const ks = await startFakeKeystone();
  try {
    const body = await authBodyFor(ks, { authType: 'v3token', token: STATIC_TOKEN, projectId: 'p-1' });
    assert.deepEqual(body.auth, { identity: { methods: ['token'], token: { id: STATIC_TOKEN } }, scope: { project: { id: 'p-1' } } });
  } finally {
    await ks.close();
  }
});

test('application credential by id, or by name with its user, and never with a scope', async () => {
  const ks = await startFakeKeystone();
  try {
    const byId = await authBodyFor(ks, {
      authType: 'v3applicationcredential',
      applicationCredentialId: 'ac-1',
      applicationCredentialSecret: APP_SECRET,
      projectName: 'ignored',
      projectDomainName: 'Default',
    });
    assert.deepEqual(byId.auth, {
      identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: APP_SECRET } },
    });
    const byName = await authBodyFor(ks, {
      authType: 'applicationcredential',
      applicationCredentialName: 'kuryr-ac',
      applicationCredentialSecret: APP_SECRET,
      username: 'kuryr',
      userDomainName: 'Default',
    });
    assert.deepEqual(byName.auth.identity.application_credential, {
      name: 'kuryr-ac',
      user: { name: 'kuryr', domain: { name: 'Default' } },
      secret: APP_SECRET,
    });
  } finally {
    await ks.close();
  }
});

test('incomplete auth options are a configuration error at construction', () => {
  const bad: Partial<AuthConfig>[] = [
    { authType: 'password', username: 'kuryr', password: PASSWORD }, // no user domain
    { authType: 'password', userId: 'u' }, // no password
    { authType: 'password', userId: 'u', password: PASSWORD, projectName: 'p' }, // no project domain
    { authType: 'token' },
    { authType: 'v3applicationcredential', applicationCredentialId: 'x' }, // no secret
  ];
  for (const b of bad) {
    assert.throws(
      () => session({ authUrl: 'http://127.0.0.1:1', ...b } as AuthConfig),
      (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG',
      JSON.stringify(b),
    );
  }
});

test('auth_url is normalised to end in /v3 whatever form it is given in', async () => {
  assert.equal(normaliseAuthUrl('http://k:5000'), 'http://k:5000/v3');
  assert.equal(normaliseAuthUrl('http://k:5000/'), 'http://k:5000/v3');
  assert.equal(normaliseAuthUrl('http://k:5000/v3/'), 'http://k:5000/v3');
  assert.equal(normaliseAuthUrl('http://k/identity'), 'http://k/identity/v3');
  assert.equal(normaliseAuthUrl('http://k:5000/v2.0'), 'http://k:5000/v3');
  const ks = await startFakeKeystone();
  try {
    for (const u of [ks.url, `${ks.url}/`, `${ks.url}/v3`, `${ks.url}/v3/`]) {
      const s = session(passwordAuth(u));
      await s.getToken();
      await s.close();
    }
    assert.deepEqual(
      ks.requests.map((r) => r.path),
      ['/v3/auth/tokens', '/v3/auth/tokens', '/v3/auth/tokens', '/v3/auth/tokens'],
    );
  } finally {
    await ks.close();
  }
});

test('the token is reused across calls while it has more than 120 s left', async () => {
  const ks = await startFakeKeystone({ lifetimeS: 3600 });
  const s = session(passwordAuth(ks.url));
  try {
    const t1 = await s.getToken();
    const t2 = await s.getToken();
    const t3 = await s.getToken();
    assert.equal(t1, ks.issued[0]);
    assert.equal(t2, t1);
    assert.equal(t3, t1);
    assert.equal(ks.authCount, 1);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('the token is renewed when less than 120 s remain', async () => {
  const ks = await startFakeKeystone({ lifetimeS: 100 });
  const s = session(passwordAuth(ks.url));
  try {
    const t1 = await s.getToken();
    const t2 = await s.getToken();
    assert.notEqual(t2, t1);
    assert.equal(ks.authCount, 2);
    ks.lifetimeS = 3600;
    const t3 = await s.getToken();
    assert.equal(await s.getToken(), t3);
    assert.equal(ks.authCount, 3);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('concurrent callers share one in-flight authentication', async () => {
  const ks = await startFakeKeystone();
  const s = session(passwordAuth(ks.url));
  try {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => s.getToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(ks.authCount, 1);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('invalidate() drops the token so the next call authenticates again', async () => {
  const ks = await startFakeKeystone();
  const s = session(passwordAuth(ks.url));
  try {
    const t1 = await s.getToken();
    s.invalidate('some-other-token'); // not ours: kept
    assert.equal(await s.getToken(), t1);
    s.invalidate();
    assert.notEqual(await s.getToken(), t1);
    assert.equal(ks.authCount, 2);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('a service 401 triggers one re-authentication and the retried request succeeds', async () => {
  const ks = await startFakeKeystone();
  const svc = await startServer((req, res) => {
    const tok = String(req.headers['x-auth-token']);
    if (!ks.valid.has(tok)) return send(res, 401, { error: { message: 'Authentication required' } });
    send(res, 200, { networks: [] });
  });
  ks.catalog = networkCatalog(svc.url);
  const s = session(passwordAuth(ks.url));
  try {
    const first = await s.getToken();
    ks.valid.delete(first); // revoked behind our back
    const res = await s.request('network', 'GET', '/v2.0/networks');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { networks: [] });
    assert.equal(ks.authCount, 2);
    assert.deepEqual(
      svc.requests.map((r) => r.headers['x-auth-token']),
      [first, ks.issued[1]],
    );
  } finally {
    await s.close();
    await svc.close();
    await ks.close();
  }
});

test('a second 401 after re-authenticating surfaces as an error, without a third attempt', async () => {
  const ks = await startFakeKeystone();
  const svc = await startServer((_req, res) => send(res, 401, { error: { message: 'Authentication required' } }));
  ks.catalog = networkCatalog(svc.url);
  const s = session(passwordAuth(ks.url));
  const neutron = new NeutronClient({ session: s });
  try {
    await assert.rejects(neutron.listNetworks(), (e: unknown) => {
      assert.ok(e instanceof NeutronError);
      assert.equal(e.httpStatus, 401);
      assert.match(e.message, /^Neutron GET \/v2\.0\/networks: 401/);
      return true;
    });
    assert.equal(svc.requests.length, 2);
    assert.equal(ks.authCount, 2);
    assert.equal(neutron.requestCount, 2);
  } finally {
    await s.close();
    await svc.close();
    await ks.close();
  }
});

test('catalog lookup matches interface and region, by region_id or region', async () => {
  const ks = await startFakeKeystone({
    catalog: [
      {
        type: 'network',
        endpoints: [
          { interface: 'public', url: 'http://pub-r1:9696', region_id: 'R1' },
          { interface: 'internal', url: 'http://int-r1:9696', region_id: 'R1' },
          { interface: 'public', url: 'http://pub-r2:9696', region: 'R2' },
          { interface: 'admin', url: 'http://adm-r2:9696', region_id: 'R2', region: 'R2' },
        ],
      },
    ],
  });
  const s = session(passwordAuth(ks.url), { regionName: 'R2', endpointType: 'internal' });
  try {
    assert.equal(await s.endpointFor('network', 'public', 'R1'), 'http://pub-r1:9696');
    assert.equal(await s.endpointFor('network', 'internal', 'R1'), 'http://int-r1:9696');
    assert.equal(await s.endpointFor('network', 'public', 'R2'), 'http://pub-r2:9696');
    assert.equal(await s.endpointFor('network', 'admin'), 'http://adm-r2:9696'); // session region R2
    assert.equal(await s.endpointFor('network', 'publicURL', 'R1'), 'http://pub-r1:9696');
  } finally {
    await s.close();
    await ks.close();
  }
});

test('a missing catalog endpoint is a clear error naming service type, interface and region', async () => {
  const ks = await startFakeKeystone({ catalog: networkCatalog('http://n:9696', 'RegionOne') });
  const s = session(passwordAuth(ks.url));
  try {
    await assert.rejects(s.endpointFor('network', 'admin', 'RegionOne'), (e: unknown) => {
      assert.ok(e instanceof KuryrError);
      assert.equal(e.code, 'KURYR_ERR_CONFIG');
      assert.match(e.message, /"network"/);
      assert.match(e.message, /interface "admin"/);
      assert.match(e.message, /region "RegionOne"/);
      assert.match(e.message, /available: public\/RegionOne, internal\/RegionOne/);
      return true;
    });
    await assert.rejects(s.endpointFor('network', 'public', 'RegionTwo'), /region "RegionTwo"/);
    await assert.rejects(s.endpointFor('compute', 'public'), /"compute".*types: identity, network/);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('endpoint_override replaces the catalog for the network service', async () => {
  const ks = await startFakeKeystone({ catalog: networkCatalog('http://from-catalog:9696') });
  const s = session(passwordAuth(ks.url), { endpointOverride: 'http://override:9696/' });
  try {
    assert.equal(await s.endpointFor('network'), 'http://override:9696/');
  } finally {
    await s.close();
    await ks.close();
  }
});

test('credentials refused by Keystone are KURYR_ERR_AUTH with Keystone\'s message and no password', async () => {
  const ks = await startFakeKeystone();
  const s = session(passwordAuth(ks.url, { password: 'wrong-password-zz99' }));
  try {
    await assert.rejects(s.getToken(), (e: unknown) => {
      assert.ok(e instanceof KuryrError);
      assert.equal(e.code, 'KURYR_ERR_AUTH');
      assert.match(e.message, /Keystone refused the password credentials/);
      assert.match(e.message, /401 Unauthorized: The request you have made requires authentication\./);
      assert.match(e.message, /request req-ks-401/);
      assert.doesNotMatch(e.message, /wrong-password-zz99/);
      return true;
    });
  } finally {
    await s.close();
    await ks.close();
  }
});

test('a Keystone error message echoing our secret is scrubbed', async () => {
  const ks = await startFakeKeystone();
  ks.failWith = { status: 400, body: { error: { code: 400, title: 'Bad Request', message: `bad password ${PASSWORD} here` } } };
  const s = session(passwordAuth(ks.url));
  try {
    await assert.rejects(s.getToken(), (e: unknown) => {
      assert.ok(e instanceof KuryrError);
      assert.equal(e.code, 'KURYR_ERR_AUTH');
      assert.match(e.message, /bad password \*\*\* here/);
      assert.ok(!e.message.includes(PASSWORD));
      return true;
    });
    // A failed attempt is not cached: the next call authenticates again and succeeds.
    assert.match(await s.getToken(), /^tok-/);
  } finally {
    await s.close();
    await ks.close();
  }
});

test('Keystone 5xx is a KURYR_ERR_NEUTRON error with status 502', async () => {
  const ks = await startFakeKeystone();
  ks.failWith = { status: 503, body: { error: { code: 503, title: 'Service Unavailable', message: 'down' } } };
  const s = session(passwordAuth(ks.url));
  try {
    await assert.rejects(s.getToken(), (e: unknown) => {
      assert.ok(e instanceof KuryrError);
      assert.equal(e.code, 'KURYR_ERR_NEUTRON');
      assert.match(e.message, /Keystone error .*503 Service Unavailable: down/);
      return true;
    });
  } finally {
    await s.close();
    await ks.close();
  }
});

test('an unreachable Keystone is an error naming Keystone and its URL, without credentials', async () => {
  const closed = await startServer(() => undefined);
  const port = closed.port;
  await closed.close();
  const s = session(passwordAuth(`http://admin:${PASSWORD}@127.0.0.1:${port}/v3`));
  try {
    await assert.rejects(s.getToken(), (e: unknown) => {
      assert.ok(e instanceof KuryrError);
      assert.equal(e.code, 'KURYR_ERR_NEUTRON');
      assert.match(e.message, /^Keystone unreachable: POST http:\/\/127\.0\.0\.1:\d+\/v3\/auth\/tokens: connection failed \(ECONNREFUSED\)/);
      assert.ok(!e.message.includes(PASSWORD));
      return true;
    });
  } finally {
    await s.close();
  }
});

test('a Keystone that never answers fails within the configured timeout', async () => {
  const hung = await startServer(() => new Promise(() => undefined));
  const s = session(passwordAuth(hung.url), { timeout: 1 });
  const started = Date.now();
  try {
    await assert.rejects(s.getToken(), /Keystone unreachable: .*no answer within 1 s/);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900 && elapsed < 2500, `elapsed ${elapsed} ms`);
  } finally {
    await s.close();
    await hung.close();
  }
});
