import { AgentError, rootMessageOf } from '../errors.ts';
import type { AgentTarget } from '../http/status-client.ts';

/** Every control endpoint answers `{ ok, reason?, ... }`. */
export interface ControlAnswer {
  ok: boolean;
  reason?: string;
}

/**
 * POSTs a control request (with the token) to one pod's agent and reads its answer; an agent
 * that cannot be reached is an AGENT_UNREACHABLE error naming the pod and the command.
 */
export async function askAgent<Answer extends ControlAnswer>(
  command: string,
  pod: string,
  { url, client }: Pick<AgentTarget, 'url' | 'client'>,
  path: string,
  { token, body = {}, timeoutMs }: { token: string; body?: unknown; timeoutMs: number },
): Promise<{ status: number; answer: Answer }> {
  try {
    const response = await client.request(`${url}${path}`, { method: 'POST', token, body, timeoutMs });
    return { status: response.status, answer: (await response.json()) as Answer };
  } catch (error) {
    throw new AgentError('AGENT_UNREACHABLE', `${command}: cannot reach ${pod}'s agent at ${url}: ${rootMessageOf(error)}`, { cause: error });
  }
}

/** The answer as JSON (--json), or the human line. */
export function printOutcome(json: boolean | undefined, answer: unknown, line: string): void {
  process.stdout.write(json ? `${JSON.stringify(answer, null, 2)}\n` : `${line}\n`);
}
