// Whether this process runs in a Kubernetes pod, and what the pod knows about itself.
// Only node:fs: the sandbox and the etcd backend load this without @kubernetes/client-node.
import { existsSync, readFileSync } from 'node:fs';

/** Where Kubernetes mounts a pod's service-account token, CA certificate and namespace. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Why inKubernetes() said no, for log lines and errors. */
export const notInKubernetesReason = 'KUBERNETES_SERVICE_HOST is unset';

/** True in a Kubernetes pod: the kubelet sets KUBERNETES_SERVICE_HOST in every container it starts. */
export function inKubernetes(env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST);
}

/**
 * The pod's namespace: POD_NAMESPACE, else the service account's namespace file; undefined
 * when neither says. `pathPrefix` moves the service-account directory (tests).
 */
export function podNamespace(env: Record<string, string | undefined> = process.env, pathPrefix = ''): string | undefined {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  const file = `${pathPrefix}${serviceAccountDir}/namespace`;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}
