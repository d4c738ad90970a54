import { loadRunConfig, type RunConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { AgentClient } from '../http/agent-client.ts';
import { type AgentTarget, collectStatus, formatStatusTable } from '../http/status-client.ts';
import { SandboxCluster } from '../sandbox/cluster.ts';
import { agentTargetsOf } from '../sandbox/cluster-file.ts';
import { runtimeFor } from '../sandbox/runtime.ts';
import { parseCommandLine } from './args.ts';

/** The options every command that asks the agents takes. */
export const agentOptions = {
  dir: { type: 'string' },
  agents: { type: 'string' },
  'ca-file': { type: 'string' },
  kubernetes: { type: 'boolean' },
  namespace: { type: 'string', short: 'n' },
  selector: { type: 'string' },
} as const;

type AgentOptionValues = { dir?: string; agents?: string; 'ca-file'?: string; kubernetes?: boolean; namespace?: string; selector?: string };

/**
 * Inside a pod's agent container (`kubectl exec POD -c agent -- mysql-ha-agent list`): the agent's
 * own settings (its peers, HTTP port, CA and token), as patronictl reads Patroni's; null elsewhere.
 */
function podSettings(): RunConfig | null {
  if (process.env.POD_NAME === undefined) return null;
  return loadRunConfig(process.env);
}

/**
 * From outside the cluster (--kubernetes): the pods the selector picks, listed through the API
 * with the user's kubeconfig (KUBECONFIG, else ~/.kube/config), each agent reached at its pod IP
 * (the pod network must be reachable from here, as in a VPC) and, with --ca-file, its certificate
 * checked for the pod's DNS name. A pod without an IP is a row that says so.
 */
async function kubernetesTargets(values: AgentOptionValues): Promise<AgentTarget[]> {
  const [{ KubeConfig }, { DEFAULT_POD_SELECTOR, listAgentPods }, { describeApiFailure }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../kubernetes/agent-pods.ts'),
    import('../kubernetes/api-failure.ts'),
  ]);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const namespace = values.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
  const selector = values.selector ?? DEFAULT_POD_SELECTOR;
  const where = `pods labelled ${selector} in namespace ${namespace} (API server ${kubeConfig.getCurrentCluster()?.server ?? 'none configured'})`;
  const pods = await listAgentPods(kubeConfig, namespace, selector).catch((error: unknown) => {
    throw new AgentError('KUBERNETES_DISCOVERY_FAILED', `cannot list the ${where}: ${describeApiFailure(error).message}`, { cause: error });
  });
  if (pods.length === 0) throw new AgentError('KUBERNETES_DISCOVERY_FAILED', `no ${where}`);
  const caFile = values['ca-file'] ?? null;
  return pods.map((pod) => {
    const client = new AgentClient(caFile, caFile === null ? undefined : pod.dnsName);
    return { url: client.url(pod.ip ?? pod.dnsName, pod.port), client };
  });
}

/**
 * The agents to ask, each with the client that verifies its certificate: from --agents (https://
 * ones verified with --ca-file, else the system's CAs), from a sandbox's cluster.json with --dir,
 * through the Kubernetes API with --kubernetes, or, inside a pod's agent container, its peers
 * (found by their DNS names, verified with the CA).
 */
export async function agentTargets(values: AgentOptionValues): Promise<AgentTarget[]> {
  if (values.kubernetes) return kubernetesTargets(values);
  if (values.agents) {
    const client = new AgentClient(values['ca-file'] ?? null);
    return values.agents.split(',').map((url) => ({ url: url.includes('://') ? url : client.url(...hostAndPort(url)), client }));
  }
  if (values.dir) return agentTargetsOf(SandboxCluster.load(values.dir, runtimeFor).describe());
  const pod = podSettings();
  if (pod !== null) {
    const client = new AgentClient(pod.tls.files?.caFile ?? null);
    return pod.peers.map((peer) => ({ url: client.url(peer.host, pod.http.port), client }));
  }
  throw new AgentError(
    'USAGE',
    'give --dir DIR (a sandbox), --agents URL,URL,... or --kubernetes [--namespace NS] (with --ca-file CA when the agents serve HTTPS), ' +
      'or run it in a pod: kubectl exec POD -c agent -- mysql-ha-agent COMMAND',
  );
}

function hostAndPort(address: string): [string, number] {
  const match = /^(.+):(\d+)$/.exec(address);
  if (!match) throw new AgentError('USAGE', `--agents entry "${address}" is neither a URL nor HOST:PORT`);
  return [match[1]!.replace(/^\[(.*)\]$/, '$1'), Number(match[2])];
}

/** The agent of `pod` among the agents the command line names (asked for /status with `token`); a usage error when none answers for it. */
export async function agentOfPod(command: string, values: AgentOptionValues, pod: string, token: string): Promise<AgentTarget> {
  const agents = await agentTargets(values);
  const rows = await collectStatus(agents, token);
  const index = rows.findIndex((row) => row.pod === pod);
  if (index < 0) {
    const known = rows.map((row) => row.pod).filter((name) => name !== '?');
    throw new AgentError('USAGE', `${command}: no agent answers for ${pod} (pods that answered: ${known.join(', ') || 'none'})`);
  }
  return agents[index]!;
}

/** The agents' token, which /status needs to show its texts: MYSQL_HA_SWITCHOVER_TOKEN, else (for a sandbox) the one in its cluster.json. */
export function tokenFor(dir: string | undefined): string | null {
  if (process.env.MYSQL_HA_SWITCHOVER_TOKEN) return process.env.MYSQL_HA_SWITCHOVER_TOKEN;
  if (dir) return SandboxCluster.load(dir, runtimeFor).describe().switchoverToken;
  // In a pod: the agent's own, from its Secret file (MYSQL_HA_SWITCHOVER_TOKEN_FILE).
  return podSettings()?.switchoverToken ?? null;
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('status', { args, options: { ...agentOptions, json: { type: 'boolean' } } });
  const rows = await collectStatus(await agentTargets(values), tokenFor(values.dir));
  process.stdout.write(
    values.json
      ? `${JSON.stringify(
          rows.map((row) => row.status ?? { agent: row.agent, error: row.reason }),
          null,
          2,
        )}\n`
      : `${formatStatusTable(rows)}\n`,
  );
  return rows.every((row) => row.healthy) ? 0 : 1;
}
