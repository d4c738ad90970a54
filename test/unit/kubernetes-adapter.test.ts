import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { createPodRolePublisher, kubeConfigForServer, noopPodRolePublisher } from '../../agent/kubernetes/create-pod-role-publisher.ts';
import { roleChangedReason, roleLabelKey } from '../../agent/kubernetes/role-label.ts';
import { StatefulSetPeerSet } from '../../agent/kubernetes/statefulset-peers.ts';
import { captureLogger, pinoLevels } from '../support/capture-logger.ts';
import { type FakeKubeApi, type KubeObject, selfSignedCertificate, startFakeKubeApi } from '../support/fake-kube-api.ts';

const namespace = 'db';
const token = 'test-token';

function pod(name: string, labels: Record<string, string> = { 'app.kubernetes.io/name': 'mysql-ha' }): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } };
}

const statefulSet: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'mysql-ha', namespace },
  spec: { replicas: 3, serviceName: 'mysql-ha', selector: { matchLabels: { app: 'x' } }, template: {} },
};

describe('the Kubernetes pod-role publisher, against the fake API server', () => {
  let api: FakeKubeApi;
  let log: ReturnType<typeof captureLogger>;

  const publisher = (podName = 'mysql-ha-1', recheckIntervalMs = 60_000) =>
    createPodRolePublisher({
      podName,
      namespace,
      logger: log.logger,
      kubeConfig: kubeConfigForServer(api.url, token),
      recheckIntervalMs,
    });
  const events = () => api.list('events', namespace);
  const warnings = () => log.lines.filter((line) => line.level === pinoLevels.warn).map((line) => line.msg);
  const writes = () => api.requests.filter((request) => request.method !== 'GET');

  beforeEach(async () => {
    api = await startFakeKubeApi({ token, user: `system:serviceaccount:${namespace}:mysql-ha`, objects: [pod('mysql-ha-0'), pod('mysql-ha-1'), statefulSet] });
    log = captureLogger();
  });
  afterEach(async () => {
    await api.close();
  });

  it('sets the role label with a JSON merge patch, keeping the other labels', async () => {
    await publisher().publishRole('replica');
    const labels = api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels;
    assert.deepEqual(labels, { 'app.kubernetes.io/name': 'mysql-ha', [roleLabelKey]: 'replica' });
    const patch = api.requests.find((request) => request.method === 'PATCH');
    assert.equal(patch?.path, `/api/v1/namespaces/${namespace}/pods/mysql-ha-1`);
    assert.equal(patch?.contentType, 'application/merge-patch+json');
    assert.deepEqual(patch?.body, { metadata: { labels: { [roleLabelKey]: 'replica' } } });
    assert.deepEqual(api.get('pods', namespace, 'mysql-ha-0')!.metadata.labels, { 'app.kubernetes.io/name': 'mysql-ha' });
  });

  it('records a RoleChanged Event on the pod when the label value changes, and only then', async () => {
    const roles = publisher('mysql-ha-1', 0);
    await roles.publishRole('replica');
    await roles.publishRole('replica');
    await roles.publishRole('primary');
    await roles.publishRole('primary');
    const recorded = events();
    assert.deepEqual(
      recorded.map((event) => event.message),
      ['mysql-ha-1 is now replica (had no role label)', 'mysql-ha-1 is now primary (was replica)'],
    );
    const uid = api.get('pods', namespace, 'mysql-ha-1')!.metadata.uid;
    for (const event of recorded) {
      assert.equal(event.reason, roleChangedReason);
      assert.equal(event.type, 'Normal');
      assert.deepEqual(event.involvedObject, { apiVersion: 'v1', kind: 'Pod', name: 'mysql-ha-1', namespace, uid });
      assert.deepEqual(event.source, { component: 'mysql-ha-agent' });
      assert.equal(event.reportingInstance, 'mysql-ha-1');
      assert.match(String(event.metadata.name), /^mysql-ha-1\.[0-9a-f]+$/);
      assert.match(String(event.firstTimestamp), /^\d{4}-\d\d-\d\dT/);
    }
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'primary');
  });

  it('does not call the API again for an unchanged role until the recheck interval passes', async () => {
    const roles = createPodRolePublisher({ podName: 'mysql-ha-1', namespace, logger: log.logger, kubeConfig: kubeConfigForServer(api.url, token) });
    await roles.publishRole('primary');
    const afterFirst = api.requests.length;
    for (let i = 0; i < 5; i += 1) await roles.publishRole('primary');
    assert.equal(api.requests.length, afterFirst);
    await roles.publishRole('replica');
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'replica');
  });

  it('after the recheck interval, restores a label removed by hand (and says so in an Event)', async () => {
    const roles = publisher('mysql-ha-1', 0);
    await roles.publishRole('primary');
    const current = api.get('pods', namespace, 'mysql-ha-1')!;
    delete current.metadata.labels![roleLabelKey];
    api.seed(current);
    await roles.publishRole('primary');
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'primary');
    assert.deepEqual(
      events().map((event) => event.message),
      ['mysql-ha-1 is now primary (had no role label)', 'mysql-ha-1 is now primary (had no role label)'],
    );
  });

  it("as the new primary, removes the previous primary's label right after setting its own, once, by compare-and-set", async () => {
    api.seed(pod('mysql-ha-0', { 'app.kubernetes.io/name': 'mysql-ha', [roleLabelKey]: 'primary' }));
    const roles = publisher('mysql-ha-1');
    await roles.publishRole('primary', 'mysql-ha-0');
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'primary');
    assert.deepEqual(api.get('pods', namespace, 'mysql-ha-0')!.metadata.labels, { 'app.kubernetes.io/name': 'mysql-ha' });
    const patches = api.requests.filter((request) => request.method === 'PATCH');
    assert.deepEqual(
      patches.map((request) => request.path),
      [`/api/v1/namespaces/${namespace}/pods/mysql-ha-1`, `/api/v1/namespaces/${namespace}/pods/mysql-ha-0`],
      'its own label first',
    );
    const clearing = patches[1]!.body as { metadata: { resourceVersion?: string; labels: Record<string, unknown> } };
    assert.deepEqual(clearing.metadata.labels, { [roleLabelKey]: null });
    assert.ok(clearing.metadata.resourceVersion, 'a precondition: never overwrite what its own agent wrote meanwhile');
    const before = api.requests.length;
    await roles.publishRole('primary', 'mysql-ha-0');
    assert.equal(api.requests.length, before, 'done once');
  });

  it("leaves a previous primary's label alone when its own agent already set another value, and a deleted pod is no failure", async () => {
    api.seed(pod('mysql-ha-0', { [roleLabelKey]: 'replica' }));
    await publisher('mysql-ha-1').publishRole('primary', 'mysql-ha-0');
    assert.equal(api.get('pods', namespace, 'mysql-ha-0')!.metadata.labels![roleLabelKey], 'replica');
    await publisher('mysql-ha-1').publishRole('primary', 'mysql-ha-9');
    assert.deepEqual(warnings(), []);
  });

  it("a refused clearing of the previous primary's label is logged naming that pod, and retried on the next call", async () => {
    api.seed(pod('mysql-ha-0', { [roleLabelKey]: 'primary' }));
    const roles = publisher('mysql-ha-1');
    await roles.publishRole('primary');
    api.deny('patch', 'pods');
    await roles.publishRole('primary', 'mysql-ha-0');
    assert.match(warnings()[0]!, /cannot remove the mysql-ha\.io\/role=primary label of the previous primary db\/mysql-ha-0: 403 Forbidden/);
    api.allow('patch', 'pods');
    await roles.publishRole('primary', 'mysql-ha-0');
    assert.equal(api.get('pods', namespace, 'mysql-ha-0')!.metadata.labels![roleLabelKey], undefined);
  });

  it('serialises overlapping calls, so one change gives one Event', async () => {
    const roles = publisher('mysql-ha-1', 0);
    await Promise.all([roles.publishRole('primary'), roles.publishRole('primary'), roles.publishRole('primary')]);
    assert.equal(events().length, 1);
    assert.equal(api.requests.filter((request) => request.method === 'PATCH').length, 1);
  });

  it('reports a missing pod in the log, naming it, and does not throw', async () => {
    const roles = publisher('other-0');
    await roles.publishRole('primary');
    const [podWarning] = warnings();
    assert.match(
      podWarning!,
      /cannot read pod db\/other-0 to check its mysql-ha\.io\/role label: 404 NotFound: pods "other-0" not found; what to do: check that POD_NAME/,
    );
    assert.equal(writes().length, 0);
  });

  it('reports a refused patch (RBAC) with the verb to grant, and retries on the next call', async () => {
    api.deny('patch', 'pods');
    const roles = publisher();
    await roles.publishRole('primary');
    assert.equal(events().length, 0);
    assert.match(
      warnings()[0]!,
      new RegExp(
        'cannot set label mysql-ha\\.io/role=primary on pod db/mysql-ha-1: 403 Forbidden: pods "mysql-ha-1" is forbidden: ' +
          'User "system:serviceaccount:db:mysql-ha" cannot patch resource "pods"',
      ),
    );
    assert.match(warnings()[0]!, /grant "patch" on pods to the agent's ServiceAccount/);
    const logged = log.lines.find((line) => line.level === pinoLevels.warn)!;
    assert.equal(logged.object, 'pods/db/mysql-ha-1');
    assert.equal(logged.status, 403);

    // A failed publish is not remembered as done: once allowed, the next call sets the label.
    api.allow('patch', 'pods');
    await roles.publishRole('primary');
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'primary');
    assert.deepEqual(
      events().map((event) => event.message),
      ['mysql-ha-1 is now primary (had no role label)'],
    );
  });

  it('keeps the label when only the Event is refused, and reports that', async () => {
    api.deny('create', 'events');
    await publisher().publishRole('primary');
    assert.equal(api.get('pods', namespace, 'mysql-ha-1')!.metadata.labels![roleLabelKey], 'primary');
    assert.match(warnings()[0]!, /cannot record event "mysql-ha-1 is now primary \(had no role label\)" on pod db\/mysql-ha-1: 403 Forbidden/);
  });

  it('reports a rejected token and an unreachable API server without throwing', async () => {
    const wrongToken = createPodRolePublisher({ podName: 'mysql-ha-1', namespace, logger: log.logger, kubeConfig: kubeConfigForServer(api.url, 'wrong') });
    await wrongToken.publishRole('primary');
    assert.match(warnings()[0]!, /401 Unauthorized.*service-account token/);

    const url = api.url;
    await api.close();
    const unreachable = createPodRolePublisher({ podName: 'mysql-ha-1', namespace, logger: log.logger, kubeConfig: kubeConfigForServer(url, token) });
    await unreachable.publishRole('primary');
    assert.match(warnings()[1]!, /cannot read pod db\/mysql-ha-1 .*ECONNREFUSED.*check that the API server is reachable/);
    api = await startFakeKubeApi();
  });
});

describe('createPodRolePublisher outside a cluster', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('returns the no-op publisher when KUBERNETES_SERVICE_HOST is unset, and says so once', async () => {
    const log = captureLogger();
    const roles = createPodRolePublisher({ podName: 'mysql-ha-0', logger: log.logger, env: {} });
    assert.equal(roles, noopPodRolePublisher);
    await roles.publishRole('primary');
    assert.equal(log.lines.length, 1);
    assert.equal(log.lines[0]!.level, pinoLevels.info);
    assert.match(log.lines[0]!.msg, /not running in Kubernetes \(KUBERNETES_SERVICE_HOST is unset\)/);
  });

  it('in a pod without a service-account token, logs what to fix and does nothing', () => {
    const root = mkdtempSync(join(tmpdir(), 'mysql-ha-sa-'));
    dirs.push(root);
    const log = captureLogger();
    const roles = createPodRolePublisher({
      podName: 'mysql-ha-0',
      logger: log.logger,
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountPathPrefix: root,
    });
    assert.equal(roles, noopPodRolePublisher);
    assert.equal(log.lines[0]!.level, pinoLevels.error);
    assert.match(log.lines[0]!.msg, /no service-account token at .*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token.*automountServiceAccountToken/);
  });

  it('in a pod with a token, takes the namespace from the service account', async () => {
    // The in-cluster path end to end: the API server's address from KUBERNETES_SERVICE_HOST/PORT,
    // TLS verified against ca.crt, the token file as bearer token, and the namespace file's namespace.
    const root = mkdtempSync(join(tmpdir(), 'mysql-ha-sa-'));
    dirs.push(root);
    const tls = selfSignedCertificate(root);
    const serviceAccountToken = 'sa-token';
    const prodPod = { ...pod('mysql-ha-0'), metadata: { ...pod('mysql-ha-0').metadata, namespace: 'prod' } };
    // The same pod name in another namespace, which must stay untouched.
    const api = await startFakeKubeApi({ token: serviceAccountToken, tls, objects: [pod('mysql-ha-0'), prodPod] });
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'token'), serviceAccountToken);
      writeFileSync(join(dir, 'namespace'), 'prod\n');
      writeFileSync(join(dir, 'ca.crt'), tls.cert);
      const inCluster = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(api.url).port };
      // The Kubernetes client reads the API server's address from process.env itself.
      Object.assign(process.env, inCluster);
      const log = captureLogger();
      const roles = createPodRolePublisher({ podName: 'mysql-ha-0', logger: log.logger, env: inCluster, serviceAccountPathPrefix: root });
      assert.notEqual(roles, noopPodRolePublisher);
      await roles.publishRole('replica');
      assert.deepEqual(
        log.lines.filter((line) => line.level >= pinoLevels.warn),
        [],
      );
      const patch = api.requests.find((request) => request.method === 'PATCH');
      assert.equal(patch?.path, '/api/v1/namespaces/prod/pods/mysql-ha-0');
      assert.equal(api.get('pods', 'prod', 'mysql-ha-0')!.metadata.labels![roleLabelKey], 'replica');
      assert.equal(api.get('pods', namespace, 'mysql-ha-0')!.metadata.labels![roleLabelKey], undefined);
      assert.deepEqual(
        api.list('events', 'prod').map((event) => event.message),
        ['mysql-ha-0 is now replica (had no role label)'],
      );
    } finally {
      for (const [name, value] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await api.close();
    }
  });
});

describe("the StatefulSet's replica count as the peer list, against the fake API server", () => {
  let api: FakeKubeApi;
  let log: ReturnType<typeof captureLogger>;
  const peerSet = () =>
    new StatefulSetPeerSet({
      kubeConfig: kubeConfigForServer(api.url, token),
      namespace,
      statefulSet: 'mysql-ha',
      service: 'mysql-ha',
      initial: [{ name: 'mysql-ha-0', host: 'mysql-ha-0.mysql-ha' }],
      logger: log.logger,
    });
  const scaled = (replicas: number): KubeObject => ({ ...statefulSet, spec: { ...(statefulSet.spec as object), replicas } });
  const names = (set: StatefulSetPeerSet) => set.current.map((peer) => `${peer.name}=${peer.host}`);

  beforeEach(async () => {
    api = await startFakeKubeApi({ token, objects: [statefulSet] });
    log = captureLogger();
  });
  afterEach(async () => {
    await api.close();
  });

  it('follows spec.replicas: scaled down, the removed pod leaves the list; scaled up, the new one joins', async () => {
    const peers = peerSet();
    await peers.refresh();
    assert.deepEqual(names(peers), ['mysql-ha-0=mysql-ha-0.mysql-ha', 'mysql-ha-1=mysql-ha-1.mysql-ha', 'mysql-ha-2=mysql-ha-2.mysql-ha']);
    api.seed(scaled(2));
    await peers.refresh();
    assert.deepEqual(names(peers), ['mysql-ha-0=mysql-ha-0.mysql-ha', 'mysql-ha-1=mysql-ha-1.mysql-ha']);
    api.seed(scaled(4));
    await peers.refresh();
    assert.equal(peers.current.length, 4);
    assert.ok(log.lines.some((line) => /StatefulSet db\/mysql-ha has 4 pods: peers updated/.test(line.msg)));
  });

  it('a refused read keeps the last known peers and says which grant is missing', async () => {
    api.deny('get', 'statefulsets');
    const peers = peerSet();
    await peers.refresh();
    assert.deepEqual(names(peers), ['mysql-ha-0=mysql-ha-0.mysql-ha']);
    const warning = log.lines.find((line) => line.level === pinoLevels.warn)?.msg ?? '';
    assert.match(warning, /cannot read StatefulSet db\/mysql-ha for its replica count \(keeping 1 peers\): 403 Forbidden/);
    assert.match(warning, /grant "get" on statefulsets/);
  });
});
