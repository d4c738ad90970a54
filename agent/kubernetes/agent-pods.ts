import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

/** The labels manifests/statefulset.yaml gives every database pod. */
export const DEFAULT_POD_SELECTOR = 'app.kubernetes.io/name=mysql-ha,app.kubernetes.io/component=database';
/** The agent container's port, by the name the manifests give it. */
const AGENT_PORT_NAME = 'agent';
const DEFAULT_AGENT_PORT = 8080;

/** A database pod as the CLI reaches its agent from outside the cluster. */
export interface AgentPod {
  name: string;
  /** Its IP on the pod network; null while it has none (pending, or its node lost). */
  ip: string | null;
  /** The name its certificate has: `<hostname>.<subdomain>`, as the StatefulSet sets them (its headless Service). */
  dnsName: string;
  port: number;
}

function agentPodOf(pod: V1Pod): AgentPod {
  const name = pod.metadata?.name ?? '?';
  const hostname = pod.spec?.hostname ?? name;
  const port = pod.spec?.containers.flatMap((container) => container.ports ?? []).find((candidate) => candidate.name === AGENT_PORT_NAME)?.containerPort;
  return {
    name,
    ip: pod.status?.podIP ?? null,
    dnsName: pod.spec?.subdomain ? `${hostname}.${pod.spec.subdomain}` : hostname,
    port: port ?? DEFAULT_AGENT_PORT,
  };
}

/** The pods `selector` picks in `namespace` (list pods), by ordinal. Rejects as the client does when the API refuses. */
export async function listAgentPods(kubeConfig: KubeConfig, namespace: string, selector: string): Promise<AgentPod[]> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const list = await api.listNamespacedPod({ namespace, labelSelector: selector });
  return list.items.map(agentPodOf).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
