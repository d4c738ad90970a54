// The Kubernetes lease backend inside agents that run as container pods: MariaDB 11.8 pods of
// the container sandbox whose agents keep their leader lease in the Lease mysql-ha-leader and
// their role on their own Pod, against the test's API server (test/support/fake-kube-api.ts: no
// real one can run here) served over HTTPS on the Docker network's gateway. Each agent container
// has the service-account files mounted where the client's in-cluster configuration reads them
// (token, ca.crt, namespace) and KUBERNETES_SERVICE_HOST/PORT set, as the kubelet does; the API
// server refuses what the Role in manifests/rbac.yaml does not grant.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serviceAccountDir } from '../../agent/kubernetes/in-cluster.ts';
import { roleLabelKey } from '../../agent/kubernetes/role-label.ts';
import { waitFor } from '../support/cluster.ts';
import { buildTestImages, ContainerTestCluster, type ContainerTestPod } from '../support/container-cluster.ts';
import { waitNewPrimary } from '../support/failover-checks.ts';
import { type FakeKubeApi, type KubeObject, selfSignedCertificate, startFakeKubeApi } from '../support/fake-kube-api.ts';
import { enforceRole, manifestLease, podObject, writeServiceAccountFiles } from '../support/in-cluster-pod.ts';

const FLAVOR = 'mariadb';
// The container suites publish on 127.0.16.; this one on its own addresses.
const PREFIX = '127.0.17.';
const NAMESPACE = 'mysql-ha-containers';
const LEASE = 'mysql-ha-leader';
const RBAC_FILE = fileURLToPath(new URL('../../manifests/rbac.yaml', import.meta.url));

describe(`${FLAVOR}: container agents keeping their lease in a Kubernetes Lease, found by their in-cluster configuration`, () => {
  let workDir: string;
  let api: FakeKubeApi | undefined;
  let cluster: ContainerTestCluster | undefined;

  const scale = (replicas: number) => api!.seed(statefulSet(replicas));
  const peersSeen = async (pods: ContainerTestPod[]) => Promise.all(pods.map(async (pod) => (await pod.statusOrUndefined())?.peers?.join(',')));
  const holder = () => (api!.get('leases', NAMESPACE, LEASE) as (KubeObject & { spec?: { holderIdentity?: string } }) | undefined)?.spec?.holderIdentity;
  const roleLabels = () => Object.fromEntries(cluster!.pods.map((pod) => [pod.name, api!.get('pods', NAMESPACE, pod.name)?.metadata.labels?.[roleLabelKey]]));
  const expectedLabels = (primary: ContainerTestPod) => Object.fromEntries(cluster!.pods.map((pod) => [pod.name, pod === primary ? 'primary' : 'replica']));

  before(async () => {
    await buildTestImages(FLAVOR);
    workDir = mkdtempSync(join(tmpdir(), 'mysql-ha-containers-kube-'));
    const saDir = join(workDir, 'serviceaccount');
    const token = randomBytes(24).toString('base64url');
    cluster = await ContainerTestCluster.start(FLAVOR, {
      addressPrefix: PREFIX,
      // The peers follow the StatefulSet's replica count, read every second here.
      env: { MYSQL_HA_LEASE_BACKEND: 'kubernetes', MYSQL_HA_PEERS_REFRESH_MS: '1000' },
      agentVolumes: [`${saDir}:${serviceAccountDir}:ro`],
      prepare: async (sandbox, gateway) => {
        const tls = selfSignedCertificate(workDir, gateway);
        api = await startFakeKubeApi({
          tls,
          host: gateway,
          token,
          user: `system:serviceaccount:${NAMESPACE}:mysql-ha`,
          objects: [...sandbox.pods.map((pod) => podObject(pod.name, NAMESPACE, pod.spec.address)), statefulSet(sandbox.pods.length), manifestLease(NAMESPACE)],
        });
        const grants = enforceRole(api, RBAC_FILE);
        assert.ok(grants.includes('update leases') && grants.includes('patch pods'), `the Role grants only ${grants.join(', ')}`);
        writeServiceAccountFiles(saDir, { token, caCert: tls.cert, namespace: NAMESPACE });
        const { hostname, port } = new URL(api.url);
        Object.assign(sandbox.options.env ?? {}, { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port });
      },
    });
    await cluster.waitHealthy();
  });

  after(async () => {
    await cluster?.destroy();
    await api?.close();
    if (!process.env.KEEP_TEST_DATA) rmSync(workDir, { recursive: true, force: true });
  });

  test('the primary holds the Lease; every Pod is labelled with its role, and nothing was refused', async () => {
    const primary = await cluster!.currentPrimary();
    await waitFor(`the Lease held by ${primary.name}`, async () => holder() === primary.name, 30_000);
    await waitFor('role labels on every Pod', async () => JSON.stringify(roleLabels()) === JSON.stringify(expectedLabels(primary)), 30_000);
    for (const pod of cluster!.pods) assert.equal((await pod.status()).lease?.holder, primary.name, `${pod.name}'s view of the lease`);
    // Agent log lines saying the API server refused them or that they could not find their service account.
    const refusals = /KUBERNETES_(UNAUTHORIZED|FORBIDDEN)|SERVICE_ACCOUNT_TOKEN_MISSING|POD_NAMESPACE_UNKNOWN|not running in Kubernetes/;
    for (const pod of cluster!.pods) {
      assert.deepEqual(
        (await pod.logs('agent', 10_000)).split('\n').filter((line) => refusals.test(line)),
        [],
        `${pod.name}'s agent was refused`,
      );
    }
    assert.ok(
      api!.requests.some((request) => request.path.includes(`/leases/${LEASE}`)),
      'no request for the Lease reached the API server',
    );
  });

  test("the whole primary pod killed: another takes the Lease and removes the dead pod's primary label; the labels follow", async () => {
    const old = await cluster!.currentPrimary();
    await cluster!.sandbox.crashPod(old);
    const primary = await waitNewPrimary(cluster!, old);
    await waitFor(`the Lease held by ${primary.name}`, async () => holder() === primary.name, 30_000);
    // Nobody runs the dead pod's agent: only the new primary can take its label away.
    await waitFor(`${old.name}'s primary label removed, ${primary.name} labelled primary`, async () => {
      const labels = roleLabels();
      return labels[old.name] === undefined && labels[primary.name] === 'primary';
    });
    await cluster!.sandbox.startPod(old);
    await cluster!.waitHealthy();
    await waitFor('role labels after the failover', async () => JSON.stringify(roleLabels()) === JSON.stringify(expectedLabels(primary)), 30_000);
  });

  test('scaled down to 2 pods: the removed pod leaves every peer list and never blocks an election; scaled up again, it rejoins', async () => {
    const removed = cluster!.pods.find((pod) => pod.name === 'mysql-ha-2')!;
    const staying = cluster!.pods.filter((pod) => pod !== removed);
    if ((await cluster!.currentPrimary()) === removed) {
      const answer = await removed.control('/switchover', { candidate: 'mysql-ha-0' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await cluster!.waitHealthy();
    }
    scale(2);
    await cluster!.sandbox.stopPod(removed);
    await waitFor('peer lists without mysql-ha-2', async () => (await peersSeen(staying)).every((peers) => peers === 'mysql-ha-0,mysql-ha-1'));
    const old = await cluster!.currentPrimary();
    await cluster!.sandbox.crashPod(old);
    // With mysql-ha-2 still a peer, the election would wait for it forever.
    const primary = await waitNewPrimary(cluster!, old);
    assert.ok(staying.includes(primary));
    await waitFor(`the Lease held by ${primary.name}`, async () => holder() === primary.name, 30_000);
    scale(3);
    await cluster!.sandbox.startPod(removed);
    await cluster!.sandbox.startPod(old);
    await cluster!.waitHealthy();
    await waitFor('every peer list with mysql-ha-2 again', async () =>
      (await peersSeen(cluster!.pods)).every((peers) => peers === 'mysql-ha-0,mysql-ha-1,mysql-ha-2'),
    );
    assert.equal((await removed.status()).replication?.source, primary.name);
  });
});

/** The StatefulSet as the API server holds it: only spec.replicas matters to the agents. */
function statefulSet(replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'mysql-ha', namespace: NAMESPACE },
    spec: { replicas, serviceName: 'mysql-ha', selector: { matchLabels: { 'app.kubernetes.io/name': 'mysql-ha' } }, template: {} },
  };
}
