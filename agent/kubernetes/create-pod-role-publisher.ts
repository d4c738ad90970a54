import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { AgentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { inKubernetes, notInKubernetesReason, podNamespace, serviceAccountDir } from './in-cluster.ts';
import { noopPodRolePublisher } from './noop-publisher.ts';
import { ApiPodRolePublisher, type PodRolePublisher } from './pod-role-publisher.ts';
import { roleLabelKey } from './role-label.ts';

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

/** Logs why the label cannot be published (the agent runs on without it). */
function logProblem(logger: Logger, problem: AgentError): void {
  logger.error({ code: problem.code }, problem.message);
}

/**
 * The API server and namespace this pod talks to: the given kubeConfig, else the in-cluster
 * configuration; null (logged, saying what `purpose` goes without) when there is none.
 */
export function apiAccess(options: CreatePodRolePublisherOptions, purpose: string): { kubeConfig: KubeConfig; namespace: string } | null {
  const env = options.env ?? process.env;
  const prefix = options.serviceAccountPathPrefix ?? '';
  const { logger } = options;
  let kubeConfig = options.kubeConfig;

  if (kubeConfig === undefined) {
    if (!inKubernetes(env)) {
      logger.info(`not running in Kubernetes (${notInKubernetesReason}): ${purpose} goes without the API`);
      return null;
    }
    const tokenFile = `${prefix}${serviceAccountDir}/token`;
    if (!existsSync(tokenFile)) {
      logProblem(
        logger,
        new AgentError(
          'SERVICE_ACCOUNT_TOKEN_MISSING',
          `running in Kubernetes but there is no service-account token at ${tokenFile}, so ${purpose} cannot use the API`,
          {
            hintInMessage: true,
          },
        ),
      );
      return null;
    }
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromCluster(prefix);
  }

  const namespace = options.namespace ?? podNamespace(env, prefix) ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  if (!namespace) {
    logProblem(
      logger,
      new AgentError(
        'POD_NAMESPACE_UNKNOWN',
        `cannot tell which namespace pod ${options.podName} is in (no POD_NAMESPACE, no ${prefix}${serviceAccountDir}/namespace), so ${purpose} cannot use the API`,
        { hintInMessage: true },
      ),
    );
    return null;
  }
  return { kubeConfig, namespace };
}

/**
 * The publisher for this process: through the API server when running in a pod (or
 * given a kubeConfig), a no-op otherwise.
 */
export function createPodRolePublisher(options: CreatePodRolePublisherOptions): PodRolePublisher {
  const access = apiAccess(options, `the ${roleLabelKey} label of pod ${options.podName}`);
  if (access === null) return noopPodRolePublisher;
  return new ApiPodRolePublisher({ ...access, podName: options.podName, logger: options.logger, recheckIntervalMs: options.recheckIntervalMs });
}
