import { existsSync, readFileSync } from 'node:fs';
import type { RunConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import type { LeaseStore } from './lease.ts';

const NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

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
  if (!env.KUBERNETES_SERVICE_HOST) {
    throw new AgentError(
      'CONFIG_INVALID',
      'MYSQL_HA_LEASE_BACKEND=kubernetes but this is not a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): set MYSQL_HA_LEASE_BACKEND=etcd and MYSQL_HA_ETCD_ENDPOINTS',
    );
  }
  const namespace = env.POD_NAMESPACE ?? (existsSync(NAMESPACE_FILE) ? readFileSync(NAMESPACE_FILE, 'utf8').trim() : undefined);
  if (!namespace) throw new AgentError('CONFIG_INVALID', "cannot tell the pod's namespace for its Lease: set POD_NAMESPACE (fieldRef metadata.namespace)");
  const [{ KubeConfig }, { KubernetesLeaseStore }] = await Promise.all([import('@kubernetes/client-node'), import('./kubernetes-lease-store.ts')]);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster();
  return new KubernetesLeaseStore({ kubeConfig, namespace, cluster: config.clusterName, requestTimeoutMs });
}
