import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { parsePodName } from '../pod/ordinal.ts';
import { noopPodRolePublisher } from './noop-publisher.ts';
import { ApiPodRolePublisher, type PodRolePublisher } from './pod-role-publisher.ts';
import { roleLabelKey } from './role-label.ts';

/** Where Kubernetes mounts a pod's service-account token and namespace. */
const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface CreatePodRolePublisherOptions {
  podName: string;
  /** Default: POD_NAMESPACE, else the service account's namespace file, else the kubeConfig context's. */
  namespace?: string;
  logger: Logger;
  /** An explicit API server (tests, or running outside the cluster); default: the in-cluster config. */
  kubeConfig?: KubeConfig;
  /**
   * Where to look for KUBERNETES_SERVICE_HOST and POD_NAMESPACE (default process.env; tests
   * pass their own). The in-cluster config itself is read by the client from process.env.
   */
  env?: Record<string, string | undefined>;
  /** Prefix for the service-account paths (tests); default none. */
  serviceAccountPathPrefix?: string;
  recheckIntervalMs?: number;
}

/** A KubeConfig for one API server URL, optionally with a bearer token. */
export function kubeConfigForServer(server: string, token?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  // The client refuses plain http:// unless TLS verification is off, which for http:// changes nothing.
  const skipTLSVerify = server.startsWith('http://');
  kubeConfig.loadFromClusterAndUser({ name: 'api', server, skipTLSVerify }, { name: 'agent', ...(token === undefined ? {} : { token }) });
  return kubeConfig;
}

export { noopPodRolePublisher };

function readNamespaceFile(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() || undefined : undefined;
}

/**
 * The publisher for this process: through the API server when running in a pod (or
 * given a kubeConfig), a no-op otherwise.
 */
export function createPodRolePublisher(options: CreatePodRolePublisherOptions): PodRolePublisher {
  const env = options.env ?? process.env;
  const prefix = options.serviceAccountPathPrefix ?? '';
  const { logger } = options;
  let kubeConfig = options.kubeConfig;

  if (kubeConfig === undefined) {
    if (!env.KUBERNETES_SERVICE_HOST) {
      logger.info(`not running in Kubernetes (KUBERNETES_SERVICE_HOST is unset): the ${roleLabelKey} pod label is not published`);
      return noopPodRolePublisher;
    }
    const tokenFile = `${prefix}${serviceAccountDir}/token`;
    if (!existsSync(tokenFile)) {
      logger.error(
        `running in Kubernetes but there is no service-account token at ${tokenFile}, so the ${roleLabelKey} pod label cannot be published; what to do: set automountServiceAccountToken: true on the pod (or its ServiceAccount)`,
      );
      return noopPodRolePublisher;
    }
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromCluster(prefix);
  }

  const namespace =
    options.namespace ??
    env.POD_NAMESPACE ??
    readNamespaceFile(`${prefix}${serviceAccountDir}/namespace`) ??
    kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  if (!namespace) {
    logger.error(
      `cannot tell which namespace pod ${options.podName} is in, so the ${roleLabelKey} pod label cannot be published; what to do: set POD_NAMESPACE (fieldRef metadata.namespace)`,
    );
    return noopPodRolePublisher;
  }
  return new ApiPodRolePublisher({
    kubeConfig,
    podName: options.podName,
    namespace,
    statefulSet: parsePodName(options.podName).statefulSet,
    logger,
    recheckIntervalMs: options.recheckIntervalMs,
  });
}
