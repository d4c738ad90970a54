// The Kubernetes lease backend (MYSQL_HA_LEASE_BACKEND=kubernetes) inside running agents: three
// MariaDB pods whose agents keep their leader lease in the coordination.k8s.io Lease
// <statefulset>-leader and their role label on their own Pod. The API server is the test's fake
// (test/support/fake-kube-api.ts: no real one can run here), served over TLS, checking a bearer
// token and refusing what the Role in manifests/rbac.yaml does not grant. Each agent finds and
// trusts it exactly as in a pod: KUBERNETES_SERVICE_HOST/PORT, and the token, ca.crt and namespace
// files at /var/run/secrets/kubernetes.io/serviceaccount, which each agent process sees in a
// mount namespace of its own (test/support/in-cluster-pod.ts; needs root). No etcd.
// The tests share one cluster and run in order: the second one fails the primary over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { roleLabelKey } from '../../agent/kubernetes/role-label.ts';
import { manifestLeaseTimings } from '../../agent/pod/manifest-env.ts';
import { queryRows, type Row, TestCluster, type TestPod, waitFor } from '../support/cluster.ts';
import { ackedMissingOn, largestWriteGapMs, writeTarget } from '../support/failover-checks.ts';
import { type FakeKubeApi, type KubeObject, selfSignedCertificate, startFakeKubeApi } from '../support/fake-kube-api.ts';
import {
  assertServiceAccountMount,
  enforceRole,
  manifestLease,
  podObject,
  serviceAccountMountPrefix,
  writeServiceAccountFiles,
} from '../support/in-cluster-pod.ts';
import { WritableSampler, WriteLoad } from '../support/write-load.ts';

const FLAVOR = 'mariadb';
// This file's own addresses (other suites use 127.0.10. to 127.0.14.).
const PREFIX = '127.0.15.';
const NAMESPACE = 'mysql-ha-e2e';
const STATEFULSET = 'mysql-ha';
const LEASE = `${STATEFULSET}-leader`;
const SERVICE_ACCOUNT = 'mysql-ha';
const POD_NAMES = [0, 1, 2].map((ordinal) => `${STATEFULSET}-${ordinal}`);
/** The agents' default lease TTL (agent/config.ts), which this suite runs with. */
const DEFAULT_TTL_MS = 5000;
const RBAC_FILE = fileURLToPath(new URL('../../manifests/rbac.yaml', import.meta.url));

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  leaseTransitions?: number;
  renewTime?: string;
}

describe(`${FLAVOR}: agents keeping their leader lease in a Kubernetes Lease (MYSQL_HA_LEASE_BACKEND=kubernetes)`, () => {
  let workDir: string | undefined;
  let api: FakeKubeApi | undefined;
  let cluster: TestCluster | undefined;

  const kube = () => api!;
  const pods = () => cluster!.pods;

  function lease(): KubeObject & { spec?: LeaseSpec } {
    const object = kube().get('leases', NAMESPACE, LEASE);
    assert.ok(object, `no Lease ${NAMESPACE}/${LEASE} in the API server`);
    return object as KubeObject & { spec?: LeaseSpec };
  }

  function roleLabel(pod: TestPod): string | undefined {
    return kube().get('pods', NAMESPACE, pod.name)?.metadata.labels?.[roleLabelKey];
  }

  /** Until every pod's role label is what `primary` being the primary means; throws naming the labels otherwise. */
  async function waitRoleLabels(primary: TestPod, among: TestPod[] = pods()): Promise<void> {
    const expected = Object.fromEntries(among.map((pod) => [pod.name, pod === primary ? 'primary' : 'replica']));
    const actual = () => Object.fromEntries(among.map((pod) => [pod.name, roleLabel(pod)]));
    await waitFor(`role labels ${JSON.stringify(expected)}`, async () => JSON.stringify(actual()) === JSON.stringify(expected), 30_000).catch(
      (error: Error) => {
        throw new Error(`${error.message}; the Pods say ${JSON.stringify(actual())}`);
      },
    );
  }

  /** The pod whose agent answers /primary with 200, once exactly one does. */
  async function soleWritablePrimary(among: TestPod[]): Promise<TestPod> {
    return waitFor('exactly one agent answering /primary with 200', async () => {
      const answers = await Promise.all(among.map(async (pod) => ({ pod, answer: await pod.agent('/primary').catch((error: Error) => error) })));
      const primaries = answers.filter(({ answer }) => !(answer instanceof Error) && answer.status === 200);
      if (primaries.length === 1) return primaries[0]!.pod;
      // Thrown, so a timeout says what each agent answered last.
      throw new Error(answers.map(({ pod, answer }) => `${pod.name}: ${answer instanceof Error ? answer.message : JSON.stringify(answer.body)}`).join('; '));
    });
  }

  async function appQuery<T extends object = Row>(pod: TestPod, sql: string, values?: unknown[]): Promise<T[]> {
    const connection = await pod.app(cluster!.secrets.app, 'app');
    try {
      return await queryRows<T>(connection, sql, values);
    } finally {
      await connection.end();
    }
  }

  /**
   * Agent log lines saying the API server refused them (401, 403) or that they could not find
   * their service account. (A request timing out on a busy machine is not counted here.)
   */
  function apiRefusals(): string[] {
    return pods().flatMap((pod) =>
      readFileSync(pod.paths.agentLog, 'utf8')
        .split('\n')
        .filter((line) => /KUBERNETES_(UNAUTHORIZED|FORBIDDEN)|SERVICE_ACCOUNT_TOKEN_MISSING|POD_NAMESPACE_UNKNOWN|not running in Kubernetes/.test(line)),
    );
  }

  before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'mysql-ha-kube-lease-'));
    const tlsDir = join(workDir, 'tls');
    const saDir = join(workDir, 'serviceaccount');
    mkdirSync(tlsDir, { recursive: true });
    const tls = selfSignedCertificate(tlsDir);
    const token = randomBytes(32).toString('base64url');
    writeServiceAccountFiles(saDir, { token, caCert: tls.cert, namespace: NAMESPACE });
    api = await startFakeKubeApi({
      tls,
      token,
      user: `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`,
      objects: [...POD_NAMES.map((name, ordinal) => podObject(name, NAMESPACE, `${PREFIX}${ordinal + 1}`)), manifestLease(NAMESPACE)],
    });
    const grants = enforceRole(api, RBAC_FILE);
    assert.ok(grants.includes('update leases') && grants.includes('patch pods'), `the Role grants only ${grants.join(', ')}`);
    const agentCommandPrefix = serviceAccountMountPrefix(saDir);
    assertServiceAccountMount(agentCommandPrefix, NAMESPACE);
    const { hostname, port } = new URL(api.url);
    cluster = await TestCluster.start(FLAVOR, {
      addressPrefix: PREFIX,
      haproxy: true,
      agentCommandPrefix,
      // What the kubelet sets in every container, and manifests/agent.env's backend. The
      // namespace comes from the service-account file (no POD_NAMESPACE).
      env: { MYSQL_HA_LEASE_BACKEND: 'kubernetes', KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port },
    });
    // TestCluster.start always starts the sandbox's etcd; these agents must not need it.
    await cluster.sandbox.stopEtcd();
    await cluster.waitHealthy();
    await WriteLoad.prepare(writeTarget(cluster!));
  });

  after(async () => {
    await cluster?.destroy();
    await api?.close();
    if (workDir && !process.env.KEEP_TEST_DATA) rmSync(workDir, { recursive: true, force: true });
    else if (workDir) console.log(`# kept: ${workDir} (service account, TLS) and ${cluster?.dir} (pods)`);
  });

  test('one primary is elected: it holds the Lease, is labelled primary, and takes writes both replicas read', async () => {
    // Each agent is the process the sandbox recorded (the wrapper exec'd it), in a mount namespace of its own.
    for (const pod of pods()) {
      const argv = readFileSync(`/proc/${pod.agentPid}/cmdline`, 'utf8').split('\0');
      assert.deepEqual(argv.slice(-2, -1), ['run'], `${pod.name}'s agent pid runs ${argv.join(' ')}`);
      assert.notEqual(readlinkSync(`/proc/${pod.agentPid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), `${pod.name}'s agent shares the host's mounts`);
    }
    const primary = await soleWritablePrimary(pods());
    const replicas = pods().filter((pod) => pod !== primary);

    const held = lease();
    new Lease(held as never).validate();
    assert.equal(held.spec?.holderIdentity, primary.name, 'the Lease names the primary');
    assert.equal(held.spec?.leaseDurationSeconds, 5, 'the default lease TTL of the agents, in whole seconds');
    assert.equal(held.metadata.annotations?.['mysql-ha.io/bootstrapped'], 'true');
    // Renewed: a holder that stopped renewing would lose it.
    const renewed = held.spec?.renewTime;
    await waitFor('the Lease renewed', async () => lease().spec?.renewTime !== renewed, 10_000);
    assert.equal(lease().spec?.holderIdentity, primary.name);

    for (const pod of pods()) {
      const status = await pod.status();
      assert.equal(status.role, pod === primary ? 'primary' : 'replica', `${pod.name} role`);
      assert.equal(status.lease?.holder, primary.name, `${pod.name}'s view of the lease`);
    }
    await waitRoleLabels(primary);
    assert.deepEqual(await cluster!.writable(), [primary.name], 'exactly one writable mysqld');

    // Each agent recorded its pod's role as an Event, with the RBAC it has.
    const events = kube()
      .list('events', NAMESPACE)
      .filter((event) => event.reason === 'RoleChanged');
    for (const pod of pods()) {
      const role = pod === primary ? 'primary' : 'replica';
      const messages = events.filter((event) => (event.involvedObject as { name?: string }).name === pod.name).map((event) => String(event.message));
      assert.ok(
        messages.some((message) => message.startsWith(`${pod.name} is now ${role}`)),
        `${pod.name}: no RoleChanged event saying ${role}: ${JSON.stringify(messages)}`,
      );
    }

    await appQuery(primary, 'CREATE TABLE kube_lease (id INT PRIMARY KEY, note VARCHAR(64))');
    const ids = [1, 2, 3];
    for (const id of ids) await appQuery(primary, 'INSERT INTO kube_lease VALUES (?, ?)', [id, `written on ${primary.name}`]);
    for (const pod of replicas) {
      await waitFor(
        `the rows on ${pod.name}`,
        async () => Number((await pod.adminRow('SELECT COUNT(*) AS n FROM app.kube_lease WHERE id IN (?)', [ids])).n) === ids.length,
        30_000,
      );
      await assert.rejects(appQuery(pod, 'INSERT INTO kube_lease VALUES (100, ?)', ['on a replica']), (error: { errno?: number; message: string }) => {
        assert.equal(error.errno, 1290, error.message); // ER_OPTION_PREVENTS_STATEMENT: read-only
        return true;
      });
    }
    assert.deepEqual(apiRefusals(), [], 'the API server refused the agents, or they found no service account');
  });

  test("SIGKILL of the primary's mysqld under load: another pod takes the Lease and the writes, no acknowledged write lost", async () => {
    await cluster!.waitHealthy();
    const old = await soleWritablePrimary(pods());
    const term = lease().spec?.leaseTransitions ?? 0;
    const oldServerId = Number((await old.adminRow('SELECT @@server_id AS serverId')).serverId);
    const sampler = new WritableSampler(pods());
    const load = new WriteLoad(writeTarget(cluster!), 4);
    let primary: TestPod;
    try {
      await waitFor('writes acknowledged before the kill', async () => load.acked.length > 50);
      const killedAt = Date.now();
      await old.stopMysqld('SIGKILL');
      primary = await soleWritablePrimary(pods().filter((pod) => pod !== old));
      const firstNew = await waitFor('a write acknowledged by the new primary', async () => load.firstAckElsewhere(killedAt, oldServerId) ?? undefined);
      await waitFor('more writes on the new primary', async () => load.acks.filter((ack) => ack.at >= firstNew && ack.serverId !== oldServerId).length >= 20);
      console.log(`# ${FLAVOR}: ${primary.name} took writes ${firstNew - killedAt} ms after ${old.name}'s mysqld was killed`);
    } finally {
      await load.stop();
      await sampler.stop();
    }
    console.log(`# ${FLAVOR}: ${load.acked.length} writes acknowledged, ${load.failures} failed attempts, ${sampler.samples} read-only samples`);

    assert.notEqual(primary, old);
    const taken = lease();
    new Lease(taken as never).validate();
    assert.equal(taken.spec?.holderIdentity, primary.name, 'the Lease names the new primary');
    assert.equal(taken.spec?.leaseTransitions, term + 1, 'the Lease changed hands once');
    assert.equal((await primary.status()).lease?.term, term + 1);
    assert.deepEqual(await ackedMissingOn(primary, load.acked), [], 'acknowledged writes missing on the new primary');
    assert.deepEqual(sampler.violations, [], 'two writable mysqld at once');
    const survivors = pods().filter((pod) => pod !== old);
    assert.deepEqual(await cluster!.writable(survivors), [primary.name]);
    await waitRoleLabels(primary, survivors);
    // `kubectl describe pod` on the new primary tells the story: the lease taken, then the promotion, each with why.
    const story = kube()
      .list('events', NAMESPACE)
      .filter((event) => (event.involvedObject as { name?: string }).name === primary.name && ['LeaseTaken', 'Promoted'].includes(String(event.reason)));
    assert.deepEqual(
      story.map((event) => event.reason),
      ['LeaseTaken', 'Promoted'],
    );
    assert.match(String(story[0]!.message), new RegExp(`${old.name}`));

    // The old primary's mysqld back: it rejoins as a replica of the new primary, and says so on its Pod.
    old.startMysqld();
    await cluster!.waitHealthy();
    const rejoined = await old.status();
    assert.equal(rejoined.role, 'replica');
    assert.equal(rejoined.replication?.source, primary.name);
    await waitRoleLabels(primary);
    assert.equal(lease().spec?.holderIdentity, primary.name);
    assert.deepEqual(await cluster!.writable(), [primary.name], 'exactly one writable mysqld');
    for (const pod of pods()) {
      await waitFor(`every acknowledged write on ${pod.name}`, async () => (await ackedMissingOn(pod, load.acked)).length === 0, 30_000);
    }
    assert.deepEqual(apiRefusals(), [], 'the API server refused the agents, or they found no service account');
  });

  test('the API server restarting for 3 × TTL, the agents seeing each other: the primary keeps taking writes (failsafe), no failover', async () => {
    await cluster!.waitHealthy();
    const primary = await soleWritablePrimary(pods());
    const primaryServerId = Number((await primary.adminRow('SELECT @@server_id AS serverId')).serverId);
    const sampler = new WritableSampler(pods());
    const load = new WriteLoad(writeTarget(cluster!), 4);
    let downAt = 0;
    try {
      await waitFor('writes acknowledged before the API server goes down', async () => load.acked.length > 50);
      await kube().down();
      downAt = Date.now();
      await sleep(3 * DEFAULT_TTL_MS);
      assert.equal((await primary.agent('/primary')).status, 200, `${primary.name} stopped serving while the API server was down`);
      assert.match((await primary.status()).decision?.reason ?? '', /\(failsafe\)/);
    } finally {
      await kube().up();
      await load.stop();
      await sampler.stop();
    }
    const during = load.acks.filter((ack) => ack.at > downAt);
    console.log(
      `# ${FLAVOR}: API server down ${Math.round((Date.now() - downAt) / 1000)} s: ${during.length} writes acknowledged meanwhile; ` +
        `largest write gap ${largestWriteGapMs(load)} ms`,
    );
    assert.ok(
      during.some((ack) => ack.at > downAt + 3 * DEFAULT_TTL_MS - 1000),
      'no write acknowledged near the end of the outage',
    );
    assert.ok(
      during.every((ack) => ack.serverId === primaryServerId),
      'a write was acknowledged by another node: a failover happened',
    );
    assert.deepEqual(sampler.violations, [], 'two writable mysqld at once');
    await cluster!.waitHealthy();
    assert.equal(lease().spec?.holderIdentity, primary.name);
  });

  test("the manifests' lease timings: an API server 500 ms slow costs no lease; down with a peer gone (no failsafe), the primary fences", async () => {
    const timings = manifestLeaseTimings();
    const ttlMs = Number(timings.MYSQL_HA_LEASE_TTL_MS);
    assert.ok(ttlMs > DEFAULT_TTL_MS, `manifests/agent.env sets no longer lease TTL: ${JSON.stringify(timings)}`);
    const restart = async (env: Record<string, string | undefined>) => {
      for (const pod of pods()) {
        await pod.stopAgent('SIGTERM');
        for (const [name, value] of Object.entries(env)) {
          if (value === undefined) delete pod.spec.env[name];
          else pod.spec.env[name] = value;
        }
        pod.startAgent();
        await soleWritablePrimary(pods());
      }
    };
    try {
      await restart(timings);
      await cluster!.waitHealthy();
      const primary = await soleWritablePrimary(pods());
      assert.equal(lease().spec?.leaseDurationSeconds, ttlMs / 1000);
      kube().setLatency(500);
      const renewed = lease().spec?.renewTime;
      await sleep(ttlMs);
      assert.notEqual(lease().spec?.renewTime, renewed, 'not renewed while the API server was slow');
      assert.equal(lease().spec?.holderIdentity, primary.name);
      assert.equal((await primary.agent('/primary')).status, 200);
      kube().setLatency(0);

      const [gone] = pods().filter((pod) => pod !== primary);
      await gone!.stopAgent('SIGKILL');
      await kube().down();
      const downAt = Date.now();
      await waitFor(`${primary.name} read-only`, async () => Number((await primary.adminRow('SELECT @@read_only AS readOnly')).readOnly) === 1, 3 * ttlMs);
      const fencedAfterMs = Date.now() - downAt;
      console.log(
        `# ${FLAVOR}: manifest timings ${JSON.stringify(timings)}: with the API server down and no failsafe, ` +
          `${primary.name} turned read-only ${fencedAfterMs} ms after`,
      );
      assert.deepEqual(await cluster!.writable(), [], 'nobody writable while nobody holds a lease');
    } finally {
      kube().setLatency(0);
      await kube().up();
      for (const pod of pods()) if (pod.agentPid === undefined) pod.startAgent();
      await restart(Object.fromEntries(Object.keys(timings).map((name) => [name, undefined])));
    }
    await cluster!.waitHealthy();
  });
});
