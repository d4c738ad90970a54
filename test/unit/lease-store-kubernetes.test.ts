// KubernetesLeaseStore against the fake Kubernetes API server, one fresh server per test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrappedAnnotation, handedOverAnnotation, historyAnnotation, KubernetesLeaseStore } from '../../agent/coordination/kubernetes-lease-store.ts';
import type { LeaseRecord, LeaseStore } from '../../agent/coordination/lease.ts';
import { kubeConfigForServer } from '../../agent/kubernetes/create-pod-role-publisher.ts';
import { type FakeKubeApi, type KubeObject, startFakeKubeApi } from '../support/fake-kube-api.ts';
import { manifestLease } from '../support/in-cluster-pod.ts';
import { type LeaseStoreFixture, leaseStoreContract } from '../support/lease-store-contract.ts';

const token = 'secret';
const namespace = 'db';
const cluster = 'mysql-ha';
const leaseName = 'mysql-ha-leader';
const requestTimeoutMs = 2000;
const reason = 'a Kubernetes store test';
/** RFC 3339 with microseconds, as the API server requires for MicroTime fields. */
const microTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

function storeOn(url: string, timeoutMs = requestTimeoutMs): KubernetesLeaseStore {
  return new KubernetesLeaseStore({ kubeConfig: kubeConfigForServer(url, token), namespace, cluster, requestTimeoutMs: timeoutMs });
}

/** `store` takes the lease and renews it, then `other` takes it over by compare-and-set: three writes. */
async function acquireRenewTakeOver(store: LeaseStore, other: LeaseStore): Promise<{ ok: true; record: LeaseRecord }> {
  const acquired = await store.acquire('a', 10_000, null, false, reason);
  assert.ok(acquired.ok);
  const renewed = await store.renew(acquired.record, acquired.record.ttlMs);
  assert.ok(renewed.ok);
  const taken = await other.acquire('b', 10_000, renewed.record.version, false, reason);
  assert.ok(taken.ok);
  return taken;
}

/**
 * Stores on a fresh fake API server. `asManifestsCreateIt`: the empty Lease of
 * manifests/lease.yaml is there from the start, and the agents may not create one (the Role).
 */
async function storesOnNewApi(asManifestsCreateIt = false): Promise<LeaseStoreFixture & { api: FakeKubeApi }> {
  const api = await startFakeKubeApi({ token, objects: asManifestsCreateIt ? [manifestLease(namespace)] : [] });
  if (asManifestsCreateIt) api.deny('create', 'leases');
  const store = storeOn(api.url);
  const other = storeOn(api.url);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await api.close();
  };
  return {
    api,
    store,
    other,
    requestTimeoutMs,
    storeAt: (url, timeoutMs) => storeOn(url, timeoutMs),
    // Closing the fake leaves its port closed: connections are refused, as for a dead API server.
    stopBackend: stop,
    cleanup: async () => {
      await store.close();
      await other.close();
      await stop();
    },
  };
}

leaseStoreContract('Kubernetes Lease', () => storesOnNewApi());
leaseStoreContract('Kubernetes Lease created empty by manifests/lease.yaml, no create granted', () => storesOnNewApi(true));

describe('KubernetesLeaseStore: the Lease object', () => {
  const withApi = (test: (fixture: Awaited<ReturnType<typeof storesOnNewApi>>) => Promise<void>) => async () => {
    const fixture = await storesOnNewApi();
    try {
      await test(fixture);
    } finally {
      await fixture.cleanup();
    }
  };
  const storedLease = (api: FakeKubeApi): KubeObject => {
    const lease = api.get('leases', namespace, leaseName);
    assert.ok(lease, `no Lease ${namespace}/${leaseName} on the API server`);
    return lease;
  };

  it(
    'is written as client-go leader election writes it, and released by emptying the holder',
    withApi(async ({ api, store }) => {
      const acquired = await store.acquire('mysql-ha-0', 10_000, null, false, reason);
      assert.ok(acquired.ok);
      let lease = storedLease(api);
      const spec = lease.spec as Record<string, unknown>;
      assert.equal(spec.holderIdentity, 'mysql-ha-0');
      assert.equal(spec.leaseDurationSeconds, 10);
      assert.equal(spec.leaseTransitions, 1);
      assert.match(String(spec.acquireTime), microTime);
      assert.match(String(spec.renewTime), microTime);
      assert.equal(Date.parse(String(spec.renewTime)), acquired.record.renewedAt);
      assert.equal(lease.metadata.resourceVersion, acquired.record.version);

      const renewed = await store.renew(acquired.record, acquired.record.ttlMs);
      assert.ok(renewed.ok);
      lease = storedLease(api);
      assert.equal((lease.spec as Record<string, unknown>).acquireTime, spec.acquireTime);
      assert.equal(Date.parse(String((lease.spec as Record<string, unknown>).renewTime)), renewed.record.renewedAt);

      assert.equal(await store.release(renewed.record), true);
      lease = storedLease(api);
      assert.equal((lease.spec as Record<string, unknown>).holderIdentity, '');
      assert.equal((lease.spec as Record<string, unknown>).leaseTransitions, 1);
    }),
  );

  it(
    'writes by compare-and-set: every update names the resourceVersion it read',
    withApi(async ({ api, store, other }) => {
      const taken = await acquireRenewTakeOver(store, other);
      await other.markBootstrapped();
      const updates = api.requests.filter((request) => request.method === 'PUT');
      const named = updates.map((update) => (update.body as KubeObject).metadata.resourceVersion);
      assert.equal(named.length, 3);
      for (const version of named) assert.match(String(version), /^\d+$/);
      // Renew, takeover, then the annotation: each names the version the write before it made, so none repeats,
      // and the last one names the taken lease's version.
      assert.equal(new Set(named).size, named.length, `an update named a version already replaced: ${named.join(', ')}`);
      assert.equal(named.at(-1), taken.record.version);
    }),
  );

  it(
    'rounds the TTL up to whole seconds, as leaseDurationSeconds holds it',
    withApi(async ({ api, store, other }) => {
      const acquired = await store.acquire('a', 1500, null, false, reason);
      assert.ok(acquired.ok);
      assert.equal(acquired.record.ttlMs, 2000);
      assert.equal((storedLease(api).spec as Record<string, unknown>).leaseDurationSeconds, 2);
      assert.deepEqual(await other.read(), acquired.record);
    }),
  );

  it(
    'keeps the bootstrapped annotation, and any other, through every later write',
    withApi(async ({ api, store, other }) => {
      await store.markBootstrapped();
      assert.equal(storedLease(api).metadata.annotations?.[bootstrappedAnnotation], 'true');
      const taken = await acquireRenewTakeOver(store, other);
      assert.equal(await other.release(taken.record), true);
      assert.equal(storedLease(api).metadata.annotations?.[bootstrappedAnnotation], 'true');
    }),
  );

  it(
    "reads a Lease written by client-go, with the API server's MicroTime strings",
    withApi(async ({ api, store }) => {
      api.seed({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: leaseName, namespace, annotations: { [bootstrappedAnnotation]: 'true' } },
        spec: {
          holderIdentity: 'mysql-ha-2',
          leaseDurationSeconds: 15,
          acquireTime: '2024-01-02T03:04:00.000000Z',
          renewTime: '2024-01-02T03:04:05.123456Z',
          leaseTransitions: 7,
        },
      });
      const record = await store.read();
      assert.deepEqual(record, {
        holder: 'mysql-ha-2',
        term: 7,
        ttlMs: 15_000,
        renewedAt: Date.parse('2024-01-02T03:04:05.123Z'),
        version: storedLease(api).metadata.resourceVersion,
        handedOver: false,
      });
      assert.equal(await store.isBootstrapped(), true);
      const taken = await store.acquire('mysql-ha-0', 10_000, record!.version, false, reason);
      assert.ok(taken.ok);
      assert.equal(taken.record.term, 8);
      const history = async () => JSON.stringify(await store.history());
      assert.deepEqual(
        storedLease(api).metadata.annotations,
        { [bootstrappedAnnotation]: 'true', [historyAnnotation]: await history() },
        'other annotations kept',
      );
      const handed = await store.acquire('mysql-ha-1', 10_000, taken.record.version, true, reason);
      assert.ok(handed.ok);
      assert.deepEqual(storedLease(api).metadata.annotations, {
        [bootstrappedAnnotation]: 'true',
        [handedOverAnnotation]: 'true',
        [historyAnnotation]: await history(),
      });
      const changes = (await store.history()).map(({ term, from, holder, how }) => [term, from, holder, how]);
      assert.deepEqual(changes, [
        [8, 'mysql-ha-2', 'mysql-ha-0', 'election'],
        [9, 'mysql-ha-0', 'mysql-ha-1', 'hand-over'],
      ]);
    }),
  );

  it(
    'reads an unreadable history annotation as no history, and replaces it on the next acquire',
    withApi(async ({ api, store }) => {
      const garbled = ['not JSON', '{"term": 1}', '[{"term": "1", "holder": "a"}]'];
      for (const history of garbled) {
        api.seed({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: leaseName, namespace, annotations: { [historyAnnotation]: history } },
          spec: {},
        });
        assert.deepEqual(await store.history(), [], `the annotation ${history}`);
      }
      // The seeded Lease has no holder: free, as manifests/lease.yaml creates it.
      const acquired = await store.acquire('a', 10_000, null, false, reason);
      assert.ok(acquired.ok);
      assert.deepEqual(
        (await store.history()).map(({ term, holder }) => ({ term, holder })),
        [{ term: 1, holder: 'a' }],
      );
    }),
  );

  it(
    'says which RBAC verb is missing when the API server answers 403, and that a refused create means the Lease is missing',
    withApi(async ({ api, store }) => {
      api.deny('create', 'leases');
      await assert.rejects(store.acquire('a', 10_000, null, false, reason), (error: Error) => {
        assert.match(error.message, /^Kubernetes Lease db\/mysql-ha-leader: cannot acquire it for a: create failed: 403 Forbidden: /);
        assert.match(error.message, /what to do: the Lease mysql-ha-leader does not exist: apply manifests\/lease\.yaml/);
        return true;
      });
      api.allow('create', 'leases');
      const acquired = await store.acquire('a', 10_000, null, false, reason);
      assert.ok(acquired.ok);
      api.deny('update', 'leases');
      await assert.rejects(
        store.renew(acquired.record, acquired.record.ttlMs),
        /cannot renew it for a: update failed: 403 Forbidden: .*grant "update" on leases\.coordination\.k8s\.io/,
      );
      api.deny('get', 'leases');
      await assert.rejects(store.read(), /cannot read it: get failed: 403 Forbidden: .*grant "get" on leases\.coordination\.k8s\.io/);
    }),
  );

  it(
    'says when the service-account token is refused',
    withApi(async ({ api }) => {
      const store = new KubernetesLeaseStore({ kubeConfig: kubeConfigForServer(api.url, 'wrong'), namespace, cluster, requestTimeoutMs });
      await assert.rejects(store.read(), /Kubernetes Lease db\/mysql-ha-leader: cannot read it: get failed: 401 Unauthorized: .*automountServiceAccountToken/);
    }),
  );
});
