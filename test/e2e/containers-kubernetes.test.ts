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
import { docker } from '../../agent/containers/docker.ts';
import { serviceAccountDir } from '../../agent/kubernetes/in-cluster.ts';
import { roleLabelKey } from '../../agent/kubernetes/role-label.ts';
import { waitFor } from '../support/cluster.ts';
import { buildTestImages, ContainerTestCluster, type ContainerTestPod } from '../support/container-cluster.ts';
import { waitNewPrimary } from '../support/failover-checks.ts';
import { type FakeKubeApi, type KubeObject, selfSignedCertificate, startFakeKubeApi } from '../support/fake-kube-api.ts';
import { enforceRole, podObject, writeServiceAccountFiles } from '../support/in-cluster-pod.ts';

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
      env: { MYSQL_HA_LEASE_BACKEND: 'kubernetes' },
      agentVolumes: [`${saDir}:${serviceAccountDir}:ro`],
      prepare: async (sandbox, gateway) => {
        const tls = selfSignedCertificate(workDir, gateway);
        api = await startFakeKubeApi({
          tls,
          host: gateway,
          token,
          user: `system:serviceaccount:${NAMESPACE}:mysql-ha`,
          objects: sandbox.pods.map((pod) => podObject(pod.name, NAMESPACE, pod.spec.address)),
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

  test('the whole primary pod killed: another takes the Lease, and the role labels follow', async () => {
    const old = await cluster!.currentPrimary();
    await docker(['kill', old.containers.agent, old.containers.mysql, old.containers.pod]);
    const primary = await waitNewPrimary(cluster!, old);
    await waitFor(`the Lease held by ${primary.name}`, async () => holder() === primary.name, 30_000);
    await cluster!.sandbox.startPod(old);
    await cluster!.waitHealthy();
    await waitFor('role labels after the failover', async () => JSON.stringify(roleLabels()) === JSON.stringify(expectedLabels(primary)), 30_000);
  });
});
