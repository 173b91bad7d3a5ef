import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { KuryrError } from '../../src/errors.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { NeutronClient, type NeutronRequestInfo } from '../../src/openstack/neutron.js';
import { NeutronError } from '../../src/openstack/errors.js';
import { encodeQuery } from '../../src/openstack/http.js';
import { createOpenStackClients } from '../../src/openstack/index.js';
import { silentLogger, type Logger } from '../../src/log.js';
import {
  APP_SECRET,
  PASSWORD,
  captureLogger,
  neutronError,
  networkCatalog,
  passwordAuth,
  send,
  startFakeKeystone,
  startServer,
  type FakeKeystone,
  type FakeServer,
  type Handler,
  type Recorded,
} from './openstack-fake-servers.js';

interface Stack {
  ks: FakeKeystone;
  neutron: FakeServer;
  session: KeystoneSession;
  client: NeutronClient;
  infos: NeutronRequestInfo[];
  close(): Promise<void>;
}

/** Fake Keystone + fake Neutron (checks X-Auth-Token) + a client wired to them. */
async function stack(
  handler: Handler,
  opts: { endpointSuffix?: string; timeout?: number; logger?: Logger; backoff?: number[]; slots?: number } = {},
): Promise<Stack> {
  const ks = await startFakeKeystone();
  const neutron = await startServer((req, res) => {
    if (!ks.valid.has(String(req.headers['x-auth-token']))) return send(res, 401, { error: { message: 'Authentication required' } });
    return handler(req, res);
  });
  ks.catalog = networkCatalog(neutron.url + (opts.endpointSuffix ?? ''));
  const session = new KeystoneSession({
    auth: passwordAuth(ks.url),
    tls: { insecure: false },
    timeout: opts.timeout ?? 5,
    endpointType: 'public',
    regionName: 'RegionOne',
    logger: opts.logger,
  });
  const infos: NeutronRequestInfo[] = [];
  const client = new NeutronClient({
    session,
    logger: opts.logger,
    onRequest: (i) => infos.push(i),
    retryBackoffMs: opts.backoff ?? [10, 20],
    maxConcurrentRequests: opts.slots,
  });
  return {
    ks,
    neutron,
    session,
    client,
    infos,
    close: async () => {
      await session.close();
      await neutron.close();
      await ks.close();
    },
  };
}

const neutronReqs = (s: Stack): Recorded[] => s.neutron.requests;

test('list follows <collection>_links next pages and returns every item, on our own base URL', async () => {
  const s = await stack((req, res) => {
    const marker = req.query.get('marker');
    const base = 'http://neutron.elsewhere.example:9696/v2.0/ports';
    if (!marker) return send(res, 200, { ports: [{ id: 'p1' }, { id: 'p2' }], ports_links: [{ rel: 'next', href: `${base}?limit=2&marker=p2` }] });
    if (marker === 'p2')
      return send(res, 200, {
        ports: [{ id: 'p3' }, { id: 'p4' }],
        ports_links: [
          { rel: 'next', href: `${base}?limit=2&marker=p4` },
          { rel: 'previous', href: `${base}?limit=2&marker=p3&page_reverse=True` },
        ],
      });
    return send(res, 200, { ports: [{ id: 'p5' }], ports_links: [{ rel: 'previous', href: `${base}?marker=p5&page_reverse=True` }] });
  });
  try {
    const ports = await s.client.listPorts({ network_id: 'n1' });
    assert.deepEqual(
      ports.map((p) => p.id),
      ['p1', 'p2', 'p3', 'p4', 'p5'],
    );
    assert.deepEqual(
      neutronReqs(s).map((r) => r.url),
      ['/v2.0/ports?network_id=n1', '/v2.0/ports?limit=2&marker=p2', '/v2.0/ports?limit=2&marker=p4'],
    );
    assert.equal(s.client.requestCount, 3);
  } finally {
    await s.close();
  }
});

test('security groups are listed from /security-groups under the security_groups key, with pagination', async () => {
  const s = await stack((req, res) => {
    if (!req.query.get('marker'))
      return send(res, 200, { security_groups: [{ id: 'a' }], security_groups_links: [{ rel: 'next', href: '/v2.0/security-groups?marker=a' }] });
    send(res, 200, { security_groups: [{ id: 'b' }] });
  });
  try {
    assert.deepEqual(
      (await s.client.listSecurityGroups()).map((g) => g.id),
      ['a', 'b'],
    );
    assert.equal(neutronReqs(s)[0]!.path, '/v2.0/security-groups');
  } finally {
    await s.close();
  }
});

test('fixed_ips filters are repeated keys and tags are comma-joined', async () => {
  assert.equal(
    encodeQuery({ fixed_ips: ['subnet_id=X', 'ip_address=10.0.0.5'], tags: ['a', 'b'], 'not-tags-any': 'c,d', shared: false, skip: undefined }),
    'fixed_ips=subnet_id%3DX&fixed_ips=ip_address%3D10.0.0.5&tags=a%2Cb&not-tags-any=c%2Cd&shared=false',
  );
  const s = await stack((_req, res) => send(res, 200, { ports: [] }));
  try {
    await s.client.listPorts({ fixed_ips: ['subnet_id=X', 'ip_address=10.0.0.5'], tags: ['kuryr.net.uuid.uh:1', 'x'] });
    await s.client.listNetworks({ tags: 'a,b' });
    const [r1, r2] = neutronReqs(s);
    assert.equal(r1!.url, '/v2.0/ports?fixed_ips=subnet_id%3DX&fixed_ips=ip_address%3D10.0.0.5&tags=kuryr.net.uuid.uh%3A1%2Cx');
    assert.deepEqual(r1!.query.getAll('fixed_ips'), ['subnet_id=X', 'ip_address=10.0.0.5']);
    assert.equal(r2!.query.get('tags'), 'a,b');
  } finally {
    await s.close();
  }
});

test('createPorts sends one bulk {"ports": [...]} request and returns the created ports', async () => {
  const s = await stack((req, res) => {
    const ports = (req.body as { ports: Record<string, unknown>[] }).ports.map((p, i) => ({ ...p, id: `port-${i}` }));
    send(res, 201, { ports });
  });
  try {
    const bodies = [
      { network_id: 'n1', name: 'a', tags: ['t1'] },
      { network_id: 'n1', name: 'b', tags: ['t2'] },
    ];
    const created = await s.client.createPorts(bodies);
    assert.deepEqual(
      created.map((p) => p.id),
      ['port-0', 'port-1'],
    );
    assert.equal(neutronReqs(s).length, 1);
    assert.equal(neutronReqs(s)[0]!.method, 'POST');
    assert.equal(neutronReqs(s)[0]!.path, '/v2.0/ports');
    assert.deepEqual(neutronReqs(s)[0]!.body, { ports: bodies });
    assert.deepEqual(await s.client.createPorts([]), []);
    assert.equal(neutronReqs(s).length, 1, 'an empty bulk create sends nothing');
  } finally {
    await s.close();
  }
});

test('createSecurityGroupRules sends one bulk {"security_group_rules": [...]} request', async () => {
  const s = await stack((req, res) => send(res, 201, req.body));
  try {
    const rules = [
      { security_group_id: 'sg', direction: 'ingress' as const, ethertype: 'IPv4' as const, protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
      { security_group_id: 'sg', direction: 'egress' as const, ethertype: 'IPv6' as const },
    ];
    const out = await s.client.createSecurityGroupRules(rules);
    assert.equal(out.length, 2);
    assert.equal(neutronReqs(s)[0]!.path, '/v2.0/security-group-rules');
    assert.deepEqual(neutronReqs(s)[0]!.body, { security_group_rules: rules });
  } finally {
    await s.close();
  }
});

test('creates wrap the body in the resource key; ports carry their tags in the body, other resources are tagged right after', async () => {
  const s = await stack((req, res) => {
    if (req.method === 'PUT') return send(res, 200, req.body as object);
    const [key] = Object.keys(req.body as object);
    send(res, 201, { [key!]: { ...(req.body as Record<string, object>)[key!], id: 'new' } });
  });
  try {
    const net = await s.client.createNetwork({ name: 'n', tags: ['a'] });
    assert.equal(net.id, 'new');
    assert.deepEqual(net.tags, ['a']);
    await s.client.createSubnet({ network_id: 'new', ip_version: 4, cidr: '10.0.0.0/24', tags: ['a'] });
    await s.client.createSubnetPool({ name: 'sp', prefixes: ['10.0.0.0/16'] });
    await s.client.createPort({ network_id: 'new', tags: ['a'] });
    await s.client.createSecurityGroup({ name: 'sg', tags: ['a'] });
    assert.deepEqual(
      neutronReqs(s).map((r) => [r.method, r.path]),
      [
        ['POST', '/v2.0/networks'],
        ['PUT', '/v2.0/networks/new/tags'],
        ['POST', '/v2.0/subnets'],
        ['PUT', '/v2.0/subnets/new/tags'],
        ['POST', '/v2.0/subnetpools'],
        ['POST', '/v2.0/ports'],
        ['POST', '/v2.0/security-groups'],
        ['PUT', '/v2.0/security-groups/new/tags'],
      ],
    );
    // Neutron rejects `tags` in a network create body ("Attribute 'tags' not allowed in POST").
    assert.deepEqual((neutronReqs(s)[0]!.body as { network: unknown }).network, { name: 'n' });
    assert.deepEqual((neutronReqs(s)[5]!.body as { port: unknown }).port, { network_id: 'new', tags: ['a'] });
  } finally {
    await s.close();
  }
});

test('a resource that cannot be tagged after creation is deleted again, and the error surfaces', async () => {
  const s = await stack((req, res) => {
    if (req.method === 'PUT') return send(res, 500, { NeutronError: { type: 'Boom', message: 'tagging failed' } });
    if (req.method === 'DELETE') return send(res, 204);
    send(res, 201, { network: { id: 'n1', tags: [] } });
  });
  try {
    await assert.rejects(s.client.createNetwork({ name: 'n', tags: ['a'] }), /tagging failed/);
    assert.ok(neutronReqs(s).some((r) => r.method === 'DELETE' && r.path === '/v2.0/networks/n1'), 'the untaggable network was deleted');
  } finally {
    await s.close();
  }
});

test('updatePort with ifRevision sends If-Match and a 412 is a conflict', async () => {
  const s = await stack((req, res) => {
    if (req.headers['if-match'] === 'revision_number=7') return send(res, 200, { port: { id: 'p1', revision_number: 8 } });
    neutronError(res, 412, 'RevisionNumberConstraintFailed', 'Constrained to 5, but current revision is 7', 'req-412');
  });
  try {
    const p = await s.client.updatePort('p1', { device_id: 'd' }, { ifRevision: 7 });
    assert.equal(p.revision_number, 8);
    assert.deepEqual(neutronReqs(s)[0]!.body, { port: { device_id: 'd' } });
    assert.equal(neutronReqs(s)[0]!.method, 'PUT');
    await assert.rejects(s.client.updatePort('p1', { device_id: 'd' }, { ifRevision: 5 }), (e: unknown) => {
      assert.ok(e instanceof NeutronError);
      assert.equal(e.code, 'KURYR_ERR_CONFLICT');
      return true;
    });
    await s.client.updatePort('p1', {}).catch(() => undefined);
    assert.equal(neutronReqs(s).at(-1)!.headers['if-match'], undefined);
  } finally {
    await s.close();
  }
});

test('a Neutron error carries type, message, request id and the mapped code and status', async () => {
  const s = await stack((req, res) => {
    if (req.path === '/v2.0/ports')
      return neutronError(res, 409, 'IpAddressAlreadyAllocated', 'IP address 10.0.0.5 already allocated in subnet s1', 'req-abc');
    if (req.path === '/v2.0/networks/missing') return neutronError(res, 404, 'NetworkNotFound', 'Network missing could not be found.', 'req-404');
    if (req.path === '/v2.0/subnets') return neutronError(res, 400, 'InvalidInput', 'Invalid input for cidr.', 'req-400');
    if (req.path === '/v2.0/subnetpools') return neutronError(res, 403, 'PolicyNotAuthorized', 'not allowed', 'req-403');
    if (req.path === '/v2.0/security-groups') return neutronError(res, 500, 'InternalError', 'boom', 'req-500');
    res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body><h1>502 Bad Gateway</h1></body></html>');
  });
  try {
    await assert.rejects(s.client.createPort({ network_id: 'n', fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.5' }] }), (e: unknown) => {
      assert.ok(e instanceof NeutronError);
      assert.ok(e instanceof KuryrError);
      assert.equal(e.message, 'Neutron POST /v2.0/ports: 409 IpAddressAlreadyAllocated: IP address 10.0.0.5 already allocated in subnet s1 (request req-abc)');
      assert.equal(e.code, 'KURYR_ERR_CONFLICT');
      assert.equal(e.httpStatus, 409);
      assert.equal(e.type, 'IpAddressAlreadyAllocated');
      assert.equal(e.neutronMessage, 'IP address 10.0.0.5 already allocated in subnet s1');
      assert.equal(e.requestId, 'req-abc');
      assert.equal(e.method, 'POST');
      assert.equal(e.path, '/v2.0/ports');
      return true;
    });
    const expect = async (p: Promise<unknown>, code: string, httpStatus: number, text: RegExp) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof NeutronError);
        assert.equal(e.code, code);
        assert.equal(e.httpStatus, httpStatus);
        assert.match(e.message, text);
        return true;
      });
    await expect(s.client.getNetwork('missing'), 'KURYR_ERR_NOT_FOUND', 404, /^Neutron GET \/v2\.0\/networks\/missing: 404 NetworkNotFound: .*\(request req-404\)$/);
    await expect(s.client.createSubnet({ cidr: 'x' }), 'KURYR_ERR_INVALID_REQUEST', 400, /400 InvalidInput/);
    await expect(s.client.createSubnetPool({ name: 'x' }), 'KURYR_ERR_AUTH', 403, /403 PolicyNotAuthorized: not allowed/);
    await expect(s.client.createSecurityGroup({ name: 'x' }), 'KURYR_ERR_NEUTRON', 500, /500 InternalError: boom \(request req-500\)/);
    await expect(s.client.listExtensions(), 'KURYR_ERR_NEUTRON', 502, /^Neutron GET \/v2\.0\/extensions: 502 502 Bad Gateway$/);
  } finally {
    await s.close();
  }
});

test('deletes are idempotent: 404 counts as success, other errors do not', async () => {
  const s = await stack((req, res) => {
    if (req.path.endsWith('/gone') || req.path.endsWith('/tags/old')) return neutronError(res, 404, 'NotFound', 'gone');
    if (req.path.endsWith('/busy')) return neutronError(res, 409, 'NetworkInUse', 'in use');
    res.writeHead(204).end();
  });
  try {
    await s.client.deletePort('gone');
    await s.client.deleteNetwork('gone');
    await s.client.deleteSubnet('gone');
    await s.client.deleteSubnetPool('gone');
    await s.client.deleteSecurityGroup('gone');
    await s.client.removeTag('ports', 'p1', 'old');
    await s.client.deletePort('p1');
    await assert.rejects(s.client.deleteNetwork('busy'), (e: unknown) => e instanceof NeutronError && e.code === 'KURYR_ERR_CONFLICT');
    assert.deepEqual(
      neutronReqs(s).map((r) => `${r.method} ${r.path}`),
      [
        'DELETE /v2.0/ports/gone',
        'DELETE /v2.0/networks/gone',
        'DELETE /v2.0/subnets/gone',
        'DELETE /v2.0/subnetpools/gone',
        'DELETE /v2.0/security-groups/gone',
        'DELETE /v2.0/ports/p1/tags/old',
        'DELETE /v2.0/ports/p1',
        'DELETE /v2.0/networks/busy',
      ],
    );
  } finally {
    await s.close();
  }
});

test('tags: replace all with PUT {"tags"}, add one with PUT .../tags/{tag} (encoded)', async () => {
  const s = await stack((req, res) => {
    if (req.path.endsWith('/tags')) return send(res, 200, req.body);
    res.writeHead(201).end();
  });
  try {
    assert.deepEqual(await s.client.replaceTags('networks', 'n1', ['a', 'b']), ['a', 'b']);
    await s.client.addTag('subnetpools', 'sp1', 'kuryr.net:1 a');
    const [r1, r2] = neutronReqs(s);
    assert.equal(`${r1!.method} ${r1!.path}`, 'PUT /v2.0/networks/n1/tags');
    assert.deepEqual(r1!.body, { tags: ['a', 'b'] });
    assert.equal(`${r2!.method} ${r2!.url}`, 'PUT /v2.0/subnetpools/sp1/tags/kuryr.net%3A1%20a');
  } finally {
    await s.close();
  }
});

test('a tag containing "/" is refused locally by addTag/removeTag (Neutron would answer 404)', async () => {
  const s = await stack((_req, res) => neutronError(res, 404, 'HTTPNotFound', 'The resource could not be found.'));
  try {
    for (const call of [() => s.client.addTag('ports', 'p1', 'a/b'), () => s.client.removeTag('ports', 'p1', 'a/b')]) {
      await assert.rejects(call(), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST' && /use replaceTags/.test(e.message));
    }
    assert.equal(neutronReqs(s).length, 0);
  } finally {
    await s.close();
  }
});

test('a port create whose tags Neutron silently dropped logs one warning', async () => {
  const cap = captureLogger();
  const s = await stack((req, res) => send(res, 201, { port: { ...(req.body as { port: object }).port, id: 'p', tags: [] } }), { logger: cap.logger });
  try {
    await s.client.createPort({ network_id: 'n', tags: ['a'] });
    await s.client.createPort({ network_id: 'n', tags: ['a'] });
    const warnings = cap.text().split('\n').filter((l) => l.includes('tag-ports-during-bulk-creation'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /"level":40/);
  } finally {
    await s.close();
  }
});

test('trunk subports are added and removed with PUT add_subports / remove_subports', async () => {
  const s = await stack((req, res) => send(res, 200, { id: 't1', sub_ports: (req.body as { sub_ports: unknown }).sub_ports }));
  try {
    await s.client.addTrunkSubports('t1', [{ port_id: 'p1', segmentation_type: 'vlan', segmentation_id: 101 }]);
    await s.client.removeTrunkSubports('t1', ['p1', 'p2']);
    const [a, r] = neutronReqs(s);
    assert.equal(`${a!.method} ${a!.path}`, 'PUT /v2.0/trunks/t1/add_subports');
    assert.deepEqual(a!.body, { sub_ports: [{ port_id: 'p1', segmentation_type: 'vlan', segmentation_id: 101 }] });
    assert.equal(`${r!.method} ${r!.path}`, 'PUT /v2.0/trunks/t1/remove_subports');
    assert.deepEqual(r!.body, { sub_ports: [{ port_id: 'p1' }, { port_id: 'p2' }] });
  } finally {
    await s.close();
  }
});

test('catalog endpoints ending in a slash, /v2.0 or /v2.0/ and with a path prefix all give /v2.0 once', async () => {
  for (const suffix of ['/', '/v2.0', '/v2.0/', '/networking', '/networking/v2.0/']) {
    const s = await stack((_req, res) => send(res, 200, { extensions: [{ alias: 'tag', name: 'Tag support' }] }), { endpointSuffix: suffix });
    try {
      assert.deepEqual(await s.client.listExtensions(), [{ alias: 'tag', name: 'Tag support' }]);
      const prefix = suffix.startsWith('/networking') ? '/networking' : '';
      assert.equal(neutronReqs(s)[0]!.path, `${prefix}/v2.0/extensions`, suffix);
    } finally {
      await s.close();
    }
  }
});

test('idempotent requests are retried on 503 (bounded), POST never is', async () => {
  let gets = 0;
  const s = await stack((req, res) => {
    if (req.method === 'GET' && req.path === '/v2.0/networks/n1') {
      gets++;
      if (gets < 3) return neutronError(res, 503, 'ServiceUnavailable', 'try later');
      return send(res, 200, { network: { id: 'n1' } });
    }
    neutronError(res, 503, 'ServiceUnavailable', 'try later', 'req-503');
  });
  try {
    assert.equal((await s.client.getNetwork('n1')).id, 'n1');
    assert.equal(gets, 3);
    assert.equal(s.client.requestCount, 3);

    const before = neutronReqs(s).length;
    await assert.rejects(s.client.createNetwork({ name: 'x' }), (e: unknown) => {
      assert.ok(e instanceof NeutronError);
      assert.equal(e.code, 'KURYR_ERR_NEUTRON');
      assert.equal(e.httpStatus, 503);
      return true;
    });
    assert.equal(neutronReqs(s).length - before, 1, 'POST sent once');

    const b2 = neutronReqs(s).length;
    await assert.rejects(s.client.deletePort('p'), /503 ServiceUnavailable/);
    assert.equal(neutronReqs(s).length - b2, 3, 'DELETE: first try + 2 retries');

    const b3 = neutronReqs(s).length;
    await assert.rejects(s.client.addTrunkSubports('t', [{ port_id: 'p', segmentation_type: 'vlan', segmentation_id: 5 }]));
    assert.equal(neutronReqs(s).length - b3, 1, 'add_subports is not idempotent: sent once');
  } finally {
    await s.close();
  }
});

test('an unreachable Neutron is KURYR_ERR_NEUTRON/502 after bounded retries, and not retried for POST', async () => {
  const ks = await startFakeKeystone();
  const closed = await startServer(() => undefined);
  await closed.close();
  ks.catalog = networkCatalog(closed.url);
  const session = new KeystoneSession({ auth: passwordAuth(ks.url), tls: { insecure: false }, timeout: 2, endpointType: 'public' });
  const infos: NeutronRequestInfo[] = [];
  const client = new NeutronClient({ session, retryBackoffMs: [10, 20], onRequest: (i) => infos.push(i) });
  try {
    await assert.rejects(client.listNetworks(), (e: unknown) => {
      assert.ok(e instanceof NeutronError);
      assert.equal(e.code, 'KURYR_ERR_NEUTRON');
      assert.equal(e.httpStatus, undefined);
      assert.match(e.message, /^Neutron GET \/v2\.0\/networks: connection failed \(ECONNREFUSED\) at http:\/\/127\.0\.0\.1:\d+\/v2\.0\/networks/);
      return true;
    });
    assert.equal(client.requestCount, 3);
    assert.deepEqual(
      infos.map((i) => i.status),
      [0, 0, 0],
    );
    await assert.rejects(client.createNetwork({ name: 'x' }), /ECONNREFUSED/);
    assert.equal(client.requestCount, 4);
  } finally {
    await session.close();
    await ks.close();
  }
});

test('a Neutron that never answers fails within the 1 s timeout, for GET and POST', async () => {
  const s = await stack(() => new Promise(() => undefined), { timeout: 1 });
  try {
    await s.session.getToken(); // Keystone answers; only Neutron hangs
    for (const call of [() => s.client.listPorts(), () => s.client.createPort({ network_id: 'n' })]) {
      const started = Date.now();
      await assert.rejects(call(), (e: unknown) => {
        assert.ok(e instanceof NeutronError);
        assert.equal(e.timedOut, true);
        assert.equal(e.code, 'KURYR_ERR_NEUTRON');
        assert.match(e.message, /: no answer within 1 s \(timeout\) at http:\/\/127\.0\.0\.1/);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 900 && elapsed < 2500, `elapsed ${elapsed} ms`);
    }
    assert.equal(s.client.requestCount, 2, 'timeouts are not retried');
  } finally {
    await s.close();
  }
});

test('onRequest sees every HTTP exchange with method, resource, status, duration and request id', async () => {
  const s = await stack((req, res) => {
    if (req.method === 'DELETE') return neutronError(res, 404, 'PortNotFound', 'x', 'req-del');
    send(res, 200, { ports: [] }, { 'x-openstack-request-id': 'req-list' });
  });
  try {
    await s.client.listPorts();
    await s.client.deletePort('p1');
    assert.equal(s.infos.length, 2);
    assert.equal(s.client.requestCount, 2);
    const [a, b] = s.infos;
    assert.deepEqual({ ...a!, durationMs: 0 }, { method: 'GET', resource: 'ports', status: 200, durationMs: 0, requestId: 'req-list' });
    // A DELETE of one object says so (metrics count deleted ports from 2xx answers only).
    assert.deepEqual({ ...b!, durationMs: 0 }, { method: 'DELETE', resource: 'ports', status: 404, durationMs: 0, requestId: 'req-del', objects: 1 });
    assert.ok(a!.durationMs >= 0);
  } finally {
    await s.close();
  }
});

test('keep-alive: sequential calls reuse pooled connections to Neutron', async () => {
  const s = await stack((_req, res) => send(res, 200, { networks: [] }));
  try {
    for (let i = 0; i < 10; i++) await s.client.listNetworks();
    assert.equal(neutronReqs(s).length, 10);
    // undici's pool may alternate between two idle sockets, but never opens one per request.
    assert.ok(new Set(neutronReqs(s).map((r) => r.remotePort)).size <= 2);
  } finally {
    await s.close();
  }
});

test('the password, secrets and tokens never appear in errors, causes or debug logs', async () => {
  const cap = captureLogger();
  let mode: 'ok' | 'error' | 'echo' | '401' | 'hang' = 'ok';
  const s = await stack(
    (req, res) => {
      if (mode === 'hang') return new Promise(() => undefined);
      if (mode === '401') return send(res, 401, { error: { message: 'nope' } });
      if (mode === 'echo') return neutronError(res, 400, 'BadRequest', `token was ${String(req.headers['x-auth-token'])}`);
      if (mode === 'error') return neutronError(res, 409, 'Conflict', 'conflict');
      send(res, req.method === 'POST' ? 201 : 200, req.method === 'POST' ? { port: { id: 'p' } } : { ports: [{ id: 'p' }] });
    },
    { logger: cap.logger, timeout: 1 },
  );
  const errors: unknown[] = [];
  const collect = async (p: Promise<unknown>) => p.then(() => undefined, (e) => errors.push(e));
  try {
    await s.client.listPorts({ tags: ['a'] });
    await s.client.createPort({ network_id: 'n', tags: ['a'] });
    s.ks.valid.delete(s.ks.issued[0]!); // forces a 401 -> re-auth
    await s.client.listPorts();
    mode = 'error';
    await collect(s.client.createPort({ network_id: 'n' }));
    mode = 'echo';
    await collect(s.client.getPort('p'));
    mode = 'hang';
    await collect(s.client.createPort({ network_id: 'n' }));
    mode = '401';
    await collect(s.client.getPort('p'));
    s.ks.failWith = { status: 401, body: { error: { title: 'Unauthorized', message: `bad ${PASSWORD}` } } };
    s.session.invalidate();
    await collect(s.client.getPort('p'));

    // Application credential and static token sessions against a dead Keystone.
    const closed = await startServer(() => undefined);
    await closed.close();
    for (const auth of [
      { authType: 'v3applicationcredential' as const, authUrl: closed.url, applicationCredentialId: 'ac', applicationCredentialSecret: APP_SECRET },
      passwordAuth(`http://kuryr:${PASSWORD}@127.0.0.1:${closed.port}/v3`),
    ]) {
      const c = createOpenStackClients(
        { auth, tls: { insecure: false }, timeout: 1, endpointType: 'public' } as Parameters<typeof createOpenStackClients>[0],
        cap.logger,
      );
      await collect(c.neutron.listNetworks());
      await c.session.close();
    }

    assert.equal(errors.length, 7);
    assert.ok(s.ks.issued.length >= 2);
    const secrets = [PASSWORD, APP_SECRET, ...s.ks.issued];
    const texts = [
      cap.text(),
      ...errors.map((e) => inspect(e, { depth: 10 })),
      ...errors.map((e) => JSON.stringify(e)),
      inspect(s.session, { depth: 10, showHidden: true }),
      inspect(s.client, { depth: 10, showHidden: true }),
    ];
    assert.match(cap.text(), /"msg":"neutron: request"/, 'debug logging was captured');
    assert.match(cap.text(), /"body":\{"port":\{"network_id":"n"/, 'request bodies are logged at debug');
    for (const text of texts) for (const secret of secrets) assert.ok(!text.includes(secret), `secret ${secret.slice(0, 6)}... leaked in: ${text.split("\n").filter((l) => l.includes(secret)).join("\n").slice(0, 600)}`);
    assert.match(inspect(errors[1]), /token was \*\*\*/, 'an echoed token is scrubbed');
  } finally {
    await s.close();
  }
});

/** A handler that holds every answer until `release()`, counting requests in flight at once. */
function heldAnswers(answer: (req: Recorded, res: import('node:http').ServerResponse) => void) {
  let inFlight = 0;
  let most = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const handler: Handler = async (req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await gate;
    inFlight--;
    answer(req, res);
  };
  return {
    handler,
    get most() {
      return most;
    },
    get inFlight() {
      return inFlight;
    },
    release() {
      open();
    },
  };
}

const until = async (what: string, check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
};

test('max_concurrent_requests: never more requests in flight than the cap; the others wait their turn and all succeed', async () => {
  let inFlight = 0;
  let most = 0;
  const s = await stack(
    async (req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      send(res, 200, { port: { id: req.path.split('/').at(-1) } });
    },
    { slots: 4 },
  );
  try {
    const ids = Array.from({ length: 40 }, (_, i) => `p${i}`);
    const ports = await Promise.all(ids.map((id) => s.client.getPort(id)));
    assert.deepEqual(
      ports.map((p) => p.id),
      ids,
    );
    assert.equal(most, 4, 'the cap is reached and never exceeded');
    assert.equal(neutronReqs(s).length, 40);
    // In arrival order: the first four are sent at once, the rest as slots free up.
    assert.deepEqual(
      neutronReqs(s).slice(0, 4).map((r) => r.path).sort(),
      ['/v2.0/ports/p0', '/v2.0/ports/p1', '/v2.0/ports/p2', '/v2.0/ports/p3'],
    );
  } finally {
    await s.close();
  }
});

test('createOpenStackClients caps the daemon\'s Neutron client at [neutron] max_concurrent_requests', async () => {
  const ks = await startFakeKeystone();
  const held = heldAnswers((_req, res) => send(res, 200, { networks: [] }));
  const fake = await startServer(held.handler);
  ks.catalog = networkCatalog(fake.url);
  const cfg = { auth: passwordAuth(ks.url), tls: { insecure: false }, timeout: 5, endpointType: 'public', maxConcurrentRequests: 3 };
  const { session, neutron } = createOpenStackClients(cfg as Parameters<typeof createOpenStackClients>[0], silentLogger);
  try {
    const all = Promise.all(Array.from({ length: 10 }, () => neutron.listNetworks()));
    await until('3 requests in flight', () => held.inFlight === 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fake.requests.length, 3, 'the other 7 wait in Kuryr, not at Neutron');
    held.release();
    await all;
    assert.equal(held.most, 3);
    assert.equal(fake.requests.length, 10);
  } finally {
    await session.close();
    await fake.close();
    await ks.close();
  }
});

test('a retried request keeps its slot: with one slot, its retry goes before requests that came later', async () => {
  let first = true;
  const s = await stack(
    (req, res) => {
      if (req.path === '/v2.0/ports/a' && first) {
        first = false;
        return neutronError(res, 503, 'ServiceUnavailable', 'busy');
      }
      send(res, 200, { port: { id: req.path.split('/').at(-1) } });
    },
    { slots: 1, backoff: [50] },
  );
  try {
    await s.session.getToken();
    const [a, b] = await Promise.all([s.client.getPort('a'), s.client.getPort('b')]);
    assert.deepEqual([a.id, b.id], ['a', 'b']);
    assert.deepEqual(
      neutronReqs(s).map((r) => r.path),
      ['/v2.0/ports/a', '/v2.0/ports/a', '/v2.0/ports/b'],
    );
  } finally {
    await s.close();
  }
});

test('the wait for a slot is bounded: past 64 waiting requests per slot, a request is refused at once, unsent', async () => {
  const held = heldAnswers((_req, res) => send(res, 200, { networks: [] }));
  const s = await stack(held.handler, { slots: 1 });
  try {
    await s.session.getToken();
    const queued = Array.from({ length: 1 + 64 }, () => s.client.listNetworks());
    await until('the first request at Neutron', () => held.inFlight === 1);
    const refused = await Promise.allSettled(Array.from({ length: 3 }, () => s.client.listNetworks()));
    for (const r of refused) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as KuryrError;
      assert.ok(e instanceof KuryrError && !(e instanceof NeutronError), 'never sent, so not an unanswered Neutron request');
      assert.equal(e.code, 'KURYR_ERR_OVERLOADED');
      assert.equal(e.message, 'Neutron GET /v2.0/networks: not sent: 64 requests already wait for one of the 1 Neutron requests in flight ([neutron] max_concurrent_requests)');
    }
    held.release();
    assert.equal((await Promise.allSettled(queued)).filter((r) => r.status === 'fulfilled').length, 65);
    assert.equal(neutronReqs(s).length, 65);
    await s.client.listNetworks(); // the slots are all back
  } finally {
    await s.close();
  }
});

test('a request that waited for its slot still gets its whole timeout, counted from when it is sent', async () => {
  const s = await stack(() => new Promise(() => undefined), { timeout: 1, slots: 1 });
  try {
    await s.session.getToken();
    const started = Date.now();
    const elapsed = await Promise.all(
      [s.client.createPort({ network_id: 'n' }), s.client.createPort({ network_id: 'n' })].map((p) =>
        p.then(
          () => assert.fail('Neutron never answers'),
          (e: unknown) => {
            assert.ok(e instanceof NeutronError && e.timedOut, String(e));
            return Date.now() - started;
          },
        ),
      ),
    );
    assert.ok(elapsed[0]! >= 900 && elapsed[0]! < 1800, `first: ${elapsed[0]} ms`);
    assert.ok(elapsed[1]! >= 1900 && elapsed[1]! < 3500, `second, after waiting for the first: ${elapsed[1]} ms`);
  } finally {
    await s.close();
  }
});
