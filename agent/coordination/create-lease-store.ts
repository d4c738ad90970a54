import type { RunConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { inKubernetes, notInKubernetesReason, podNamespace, serviceAccountDir } from '../kubernetes/in-cluster.ts';
import type { LeaseStore } from './lease.ts';

/**
 * The configured lease backend: a Kubernetes Lease in the pod's namespace, or etcd. Only the
 * chosen backend's client library is loaded (each costs tens of MiB).
 */
export async function createLeaseStore(config: RunConfig, env: NodeJS.ProcessEnv = process.env): Promise<LeaseStore> {
  const requestTimeoutMs = config.timings.storeTimeoutMs;
  if (config.lease.backend === 'etcd') {
    const { EtcdLeaseStore } = await import('./etcd-lease-store.ts');
    return new EtcdLeaseStore({ hosts: config.lease.endpoints, cluster: config.clusterName, requestTimeoutMs });
  }
  if (!inKubernetes(env)) {
    throw new AgentError('CONFIG_INVALID', `MYSQL_HA_LEASE_BACKEND=kubernetes but ${config.pod.name} is not a Kubernetes pod (${notInKubernetesReason})`, {
      hint: 'set MYSQL_HA_LEASE_BACKEND=etcd and MYSQL_HA_ETCD_ENDPOINTS, or run the agent in a Kubernetes pod',
    });
  }
  const namespace = podNamespace(env);
  if (!namespace) {
    throw new AgentError(
      'POD_NAMESPACE_UNKNOWN',
      `cannot tell the namespace of pod ${config.pod.name} for its Lease (no POD_NAMESPACE, no ${serviceAccountDir}/namespace)`,
    );
  }
  const [{ KubeConfig }, { KubernetesLeaseStore }] = await Promise.all([import('@kubernetes/client-node'), import('./kubernetes-lease-store.ts')]);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster();
  return new KubernetesLeaseStore({ kubeConfig, namespace, cluster: config.clusterName, requestTimeoutMs });
}
