// The contract of test/support/fake-kube-api.ts: the Kubernetes API behaviour that the
// adapter tests rely on, written down so the fake cannot drift from the real API quietly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyMergePatch, type FakeKubeApi, type KubeObject, startFakeKubeApi } from '../support/fake-kube-api.ts';

/** A reply's body as the tests read it: an object (metadata, spec) or, for errors, a Status. */
interface ReplyBody {
  kind: string;
  apiVersion: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
  };
  spec: { replicas?: number; holderIdentity?: string };
  /** A list's. */
  items: Array<{ metadata: { name: string } }>;
  // Status fields.
  status: string;
  code: number;
  reason: string;
  message: string;
  details: Record<string, string>;
}

interface Reply {
  status: number;
  body: ReplyBody;
}

describe('fake Kubernetes API server', () => {
  let api: FakeKubeApi;
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json', token = 'secret'): Promise<Reply> => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: { 'content-type': contentType, authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    assert.equal(response.headers.get('content-type'), 'application/json');
    return { status: response.status, body: (await response.json()) as ReplyBody };
  };
  const podPath = '/api/v1/namespaces/db/pods/mysql-ha-0';
  const leases = '/apis/coordination.k8s.io/v1/namespaces/db/leases';
  const lease = (name: string, holder: string, resourceVersion?: string): KubeObject => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
    spec: { holderIdentity: holder, leaseDurationSeconds: 10 },
  });
  const assertStatus = (reply: Reply, code: number, reason: string, message: RegExp) => {
    assert.equal(reply.status, code, JSON.stringify(reply.body));
    assert.equal(reply.body.kind, 'Status');
    assert.equal(reply.body.apiVersion, 'v1');
    assert.equal(reply.body.status, 'Failure');
    assert.equal(reply.body.code, code);
    assert.equal(reply.body.reason, reason);
    assert.match(reply.body.message, message);
  };

  before(async () => {
    api = await startFakeKubeApi({
      token: 'secret',
      objects: [
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'mysql-ha-0', namespace: 'db', labels: { app: 'mysql-ha' } }, spec: {} },
        { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'mysql-ha', namespace: 'db' }, spec: { replicas: 3 } },
      ],
    });
  });
  after(() => api.close());

  it('gives seeded objects a uid, a resourceVersion and a creationTimestamp', async () => {
    const reply = await call('GET', podPath);
    assert.equal(reply.status, 200);
    assert.match(reply.body.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(reply.body.metadata.resourceVersion, /^\d+$/);
    assert.match(reply.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((await call('GET', '/apis/apps/v1/namespaces/db/statefulsets/mysql-ha')).body.spec.replicas, 3);
  });

  it('lists the pods of a namespace that an equality-based label selector picks; a malformed selector is a 400', async () => {
    const names = async (query: string) => (await call('GET', `/api/v1/namespaces/db/pods${query}`)).body.items.map((item) => item.metadata.name);
    assert.equal((await call('GET', '/api/v1/namespaces/db/pods')).body.kind, 'PodList');
    assert.deepEqual(await names(''), ['mysql-ha-0']);
    assert.deepEqual(await names('?labelSelector=app%3Dmysql-ha'), ['mysql-ha-0']);
    assert.deepEqual(await names('?labelSelector=app%3D%3Dmysql-ha,role%21%3Dprimary'), ['mysql-ha-0']);
    assert.deepEqual(await names('?labelSelector=app%3Dother'), []);
    assert.deepEqual(await names('?labelSelector=app%21%3Dmysql-ha'), []);
    assert.deepEqual((await call('GET', '/api/v1/namespaces/elsewhere/pods')).body.items, []);
    assertStatus(await call('GET', '/api/v1/namespaces/db/pods?labelSelector=app%20in%20(x)'), 400, 'BadRequest', /unable to parse requirement/);
  });

  it('answers 404 with a NotFound Status naming the object for a missing one', async () => {
    const pod = await call('GET', '/api/v1/namespaces/db/pods/nope');
    assertStatus(pod, 404, 'NotFound', /^pods "nope" not found$/);
    assert.deepEqual(pod.body.details, { name: 'nope', group: '', kind: 'pods' });
    const statefulSet = await call('GET', '/apis/apps/v1/namespaces/other/statefulsets/mysql-ha');
    assertStatus(statefulSet, 404, 'NotFound', /^statefulsets\.apps "mysql-ha" not found$/);
    assert.deepEqual(statefulSet.body.details, { name: 'mysql-ha', group: 'apps', kind: 'statefulsets' });
    assertStatus(await call('GET', '/api/v1/namespaces/db/configmaps/x'), 404, 'NotFound', /could not find the requested resource/);
  });

  it('applies merge patches (strategic ones too) and gives each change a new resourceVersion', async () => {
    const before = Number((await call('GET', podPath)).body.metadata.resourceVersion);
    const merged = await call('PATCH', podPath, { metadata: { labels: { role: 'primary' } } }, 'application/merge-patch+json');
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.body.metadata.labels, { app: 'mysql-ha', role: 'primary' });
    const afterMerge = Number(merged.body.metadata.resourceVersion);
    assert.ok(afterMerge > before);

    const strategic = await call('PATCH', podPath, { metadata: { labels: { role: null } } }, 'application/strategic-merge-patch+json');
    assert.deepEqual(strategic.body.metadata.labels, { app: 'mysql-ha' }, 'null removes a key');
    assert.ok(Number(strategic.body.metadata.resourceVersion) > afterMerge);
    assert.deepEqual(api.get('pods', 'db', 'mysql-ha-0')!.metadata.labels, { app: 'mysql-ha' });
  });

  it('leaves the resourceVersion alone when a patch changes nothing', async () => {
    const current = (await call('GET', podPath)).body.metadata.resourceVersion;
    const same = await call('PATCH', podPath, { metadata: { labels: { app: 'mysql-ha' } } }, 'application/merge-patch+json');
    assert.equal(same.body.metadata.resourceVersion, current);
  });

  it('answers 415 for patch types it does not implement', async () => {
    for (const type of ['application/json-patch+json', 'application/apply-patch+yaml', 'application/json']) {
      assertStatus(await call('PATCH', podPath, [], type), 415, 'UnsupportedMediaType', /unknown format/);
    }
  });

  it('answers 409 Conflict to a patch or PUT carrying a stale resourceVersion', async () => {
    const stale = await call('PATCH', podPath, { metadata: { resourceVersion: '1', labels: { x: 'y' } } }, 'application/merge-patch+json');
    assertStatus(
      stale,
      409,
      'Conflict',
      /^Operation cannot be fulfilled on pods "mysql-ha-0": the object has been modified; please apply your changes to the latest version and try again$/,
    );
    assert.equal(api.get('pods', 'db', 'mysql-ha-0')!.metadata.labels!.x, undefined);
  });

  it('creates, reads and replaces leases with optimistic concurrency', async () => {
    const created = await call('POST', leases, lease('mysql-ha', 'mysql-ha-0'));
    assert.equal(created.status, 201);
    const version = created.body.metadata.resourceVersion as string;
    assert.equal((await call('GET', `${leases}/mysql-ha`)).body.spec.holderIdentity, 'mysql-ha-0');

    assertStatus(
      await call('POST', leases, lease('mysql-ha', 'mysql-ha-1')),
      409,
      'AlreadyExists',
      /^leases\.coordination\.k8s\.io "mysql-ha" already exists$/,
    );

    const replaced = await call('PUT', `${leases}/mysql-ha`, lease('mysql-ha', 'mysql-ha-1', version));
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.spec.holderIdentity, 'mysql-ha-1');
    assert.ok(Number(replaced.body.metadata.resourceVersion) > Number(version));
    assert.equal(replaced.body.metadata.uid, created.body.metadata.uid);
    assert.equal(replaced.body.metadata.creationTimestamp, created.body.metadata.creationTimestamp);

    // Someone else's update in between: the holder that read `version` loses.
    const lost = await call('PUT', `${leases}/mysql-ha`, lease('mysql-ha', 'mysql-ha-2', version));
    assertStatus(lost, 409, 'Conflict', /^Operation cannot be fulfilled on leases\.coordination\.k8s\.io "mysql-ha": the object has been modified/);
    assert.equal((api.get('leases', 'db', 'mysql-ha')!.spec as { holderIdentity: string }).holderIdentity, 'mysql-ha-1');

    const unconditional = await call('PUT', `${leases}/mysql-ha`, lease('mysql-ha', 'mysql-ha-2'));
    assert.equal(unconditional.status, 200, 'a PUT without resourceVersion is unconditional');
  });

  it('rejects a PUT of a missing lease or one whose name differs from the URL', async () => {
    assertStatus(await call('PUT', `${leases}/absent`, lease('absent', 'x')), 404, 'NotFound', /^leases\.coordination\.k8s\.io "absent" not found$/);
    assertStatus(await call('PUT', `${leases}/mysql-ha`, lease('other', 'x')), 400, 'BadRequest', /does not match the name on the URL/);
  });

  it('creates events, naming them from generateName when asked, and refuses bad ones', async () => {
    const events = '/api/v1/namespaces/db/events';
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'mysql-ha-0.1' },
      reason: 'RoleChanged',
      involvedObject: { kind: 'Pod', name: 'mysql-ha-0' },
    };
    const created = await call('POST', events, event);
    assert.equal(created.status, 201);
    assert.equal(created.body.metadata.namespace, 'db');
    assertStatus(await call('POST', events, event), 409, 'AlreadyExists', /^events "mysql-ha-0\.1" already exists$/);
    const generated = await call('POST', events, { ...event, metadata: { generateName: 'mysql-ha-0.' } });
    assert.match(generated.body.metadata.name, /^mysql-ha-0\.[0-9a-f]{5}$/);
    assertStatus(await call('POST', events, { ...event, metadata: {} }), 422, 'Invalid', /name or generateName is required/);
    assertStatus(
      await call('POST', events, { ...event, metadata: { name: 'x', namespace: 'other' } }),
      400,
      'BadRequest',
      /namespace of the provided object does not match/,
    );
    assertStatus(await call('POST', events, '{not json'), 400, 'BadRequest', /not JSON/);
  });

  it('uses one resourceVersion counter for all objects, as etcd does', async () => {
    const a = await call('POST', leases, lease('a', 'x'));
    const b = await call('POST', '/api/v1/namespaces/db/events', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'b' } });
    const c = await call('POST', leases, lease('c', 'x'));
    const versions = [a, b, c].map((reply) => Number(reply.body.metadata.resourceVersion));
    assert.deepEqual(
      versions,
      [...versions].sort((x, y) => x - y),
    );
    assert.equal(new Set(versions).size, 3);
  });

  it('answers 405 for verbs it does not serve, 401 without the token, 403 for a denied verb', async () => {
    assertStatus(await call('DELETE', podPath), 405, 'MethodNotAllowed', /does not serve DELETE on pods/);
    assertStatus(await call('GET', '/apis/coordination.k8s.io/v1/namespaces/db/leases'), 405, 'MethodNotAllowed', /does not serve GET on leases/);
    assertStatus(await call('PUT', podPath, {}), 405, 'MethodNotAllowed', /does not serve PUT on pods/);
    assertStatus(await call('GET', podPath, undefined, 'application/json', 'wrong'), 401, 'Unauthorized', /Unauthorized/);
    api.deny('get', 'statefulsets');
    assertStatus(
      await call('GET', '/apis/apps/v1/namespaces/db/statefulsets/mysql-ha'),
      403,
      'Forbidden',
      new RegExp(
        '^statefulsets\\.apps "mysql-ha" is forbidden: User "system:serviceaccount:default:mysql-ha" cannot get resource "statefulsets" ' +
          'in API group "apps" in the namespace "db"$',
      ),
    );
    api.allow('get', 'statefulsets');
    assert.equal((await call('GET', '/apis/apps/v1/namespaces/db/statefulsets/mysql-ha')).status, 200);
  });

  it('answers 403 for an object a verb is not allowed on by name (RBAC resourceNames), and 200 for a named one', async () => {
    api.allowOnly('get', 'statefulsets', ['other']);
    assertStatus(await call('GET', '/apis/apps/v1/namespaces/db/statefulsets/mysql-ha'), 403, 'Forbidden', /statefulsets\.apps "mysql-ha" is forbidden/);
    api.allowOnly('get', 'statefulsets', ['mysql-ha']);
    assert.equal((await call('GET', '/apis/apps/v1/namespaces/db/statefulsets/mysql-ha')).status, 200);
    api.allow('get', 'statefulsets');
  });

  it('down() refuses connections as a restarting API server does; up() answers again on the same URL with what it stored', async () => {
    const before = await call('GET', podPath);
    await api.down();
    await assert.rejects(fetch(`${api.url}${podPath}`), /fetch failed/);
    await api.up();
    assert.deepEqual(await call('GET', podPath), before);
  });

  it('records each request for assertions', () => {
    const patch = api.requests.find((request) => request.method === 'PATCH');
    assert.deepEqual(patch, {
      method: 'PATCH',
      path: podPath,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { role: 'primary' } } },
    });
  });
});

describe('applyMergePatch (RFC 7386)', () => {
  it("follows the RFC's examples", () => {
    const cases: [unknown, unknown, unknown][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, expected] of cases) {
      assert.deepEqual(applyMergePatch(target, patch), expected, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`);
    }
  });
});
