// What the sandbox asks its agents over HTTP: each pod's answers, and waits on all of them.
import { AgentError, rootMessageOf } from '../errors.ts';
import { AgentClient } from '../http/agent-client.ts';
import type { AgentStatus } from '../http/status.ts';
import { fetchStatus } from '../http/status-client.ts';
import { AGENT_PORT } from './pod.ts';
import { waitFor } from './probes.ts';

/** An agent's answer to a GET: its HTTP status (0 when unreachable), the reason it gives, its JSON body. */
export interface AgentReply {
  status: number;
  reason: string;
  /** The parsed JSON body ({} when not JSON, null when unreachable): callers check what they read. */
  body: unknown;
}

/** A pod as the sandbox reaches it from this machine: its name and the address its agent answers on. */
export interface ReachablePod {
  name: string;
  spec: { address: string };
  /** With certificates: the CA that signed the pod's (its agent then serves HTTPS). */
  readonly caFile?: string | undefined;
  /** The name its certificate gives the pod, when that is not its address (containers: its DNS name). */
  readonly certificateName?: string | undefined;
}

const clients = new Map<string, AgentClient>();

/** The client that reaches the pod's agent, verifying its certificate when it has one; one per CA and name in this process. */
export function agentClientOf(pod: ReachablePod): AgentClient {
  const key = `${pod.caFile ?? ''}\n${pod.certificateName ?? ''}`;
  let client = clients.get(key);
  if (client === undefined) {
    client = new AgentClient(pod.caFile ?? null, pod.certificateName);
    clients.set(key, client);
  }
  return client;
}

export function agentUrl(pod: ReachablePod): string {
  return agentClientOf(pod).url(pod.spec.address, AGENT_PORT);
}

/** GET `path` from the pod's agent (/health, /primary, /replica…); for /status use podStatus, which is typed. */
export async function agentGet(pod: ReachablePod, path: string): Promise<AgentReply> {
  try {
    const response = await agentClientOf(pod).request(`${agentUrl(pod)}${path}`, { timeoutMs: 2000 });
    const body: unknown = await response.json().catch(() => ({}));
    const reason = (body as { reason?: unknown } | null)?.reason;
    return { status: response.status, reason: String(reason ?? response.statusText), body };
  } catch (error) {
    return { status: 0, reason: `agent unreachable: ${rootMessageOf(error)}`, body: null };
  }
}

/** The pod's whole GET /status document (asked with its token), or null when its agent does not give one. */
export async function podStatus(pod: ReachablePod & { readonly switchoverToken: string }, timeoutMs = 2000): Promise<AgentStatus | null> {
  return (await fetchStatus(agentClientOf(pod), agentUrl(pod), timeoutMs, pod.switchoverToken)).status;
}

/** Until every agent says healthy; on timeout the error lists what each agent reports. */
export async function waitHealthy(pods: ReachablePod[], timeoutMs: number, dir: string): Promise<void> {
  let answers: AgentReply[] = [];
  await waitFor(
    'every agent healthy',
    async () => {
      answers = await Promise.all(pods.map((pod) => agentGet(pod, '/health')));
      return answers.every((answer) => answer.status === 200);
    },
    timeoutMs,
    {
      intervalMs: 250,
      timeoutError: () => {
        const why = answers.map((answer, i) => `  ${pods[i]!.name}: ${answer.reason}`).join('\n');
        return new AgentError(
          'SANDBOX_UNHEALTHY',
          `the cluster did not become healthy within ${timeoutMs / 1000} s:\n${why}\nlogs: ${dir}/<pod>/{agent,mysqld}.log`,
        );
      },
    },
  );
}

/** The pod whose agent answers /primary with 200 (the lease holder), once there is one. */
export async function findPrimary<Pod extends ReachablePod>(pods: Pod[], timeoutMs: number): Promise<Pod> {
  let answers: AgentReply[] = [];
  return waitFor(
    'a primary',
    async () => {
      answers = await Promise.all(pods.map((pod) => agentGet(pod, '/primary')));
      return pods[answers.findIndex((answer) => answer.status === 200)];
    },
    timeoutMs,
    {
      timeoutError: () =>
        new AgentError(
          'SANDBOX_NO_PRIMARY',
          `no pod became primary within ${timeoutMs / 1000} s: ${answers.map((answer, i) => `${pods[i]!.name}: ${answer.reason}`).join('; ')}`,
        ),
    },
  );
}
