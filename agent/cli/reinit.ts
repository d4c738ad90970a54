import type { Response } from 'undici';
import { AgentError, rootMessageOf } from '../errors.ts';
import type { ReinitOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { agentOfPod, agentOptions, tokenFor } from './status.ts';

/**
 * `reinit POD [--from DONOR]`: asks POD's agent (POST /reinit) to replace its data with a copy of
 * a donor's, a replica's unless --from names one. Returns once the agent decided: the copy runs
 * on, and `status` shows it (state replica-rebuilding) until the pod follows the primary again.
 */
export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('reinit', { args, allowPositionals: true, options: { ...agentOptions, from: { type: 'string' } } });
  const [pod, ...extra] = positionals;
  if (pod === undefined || extra.length > 0)
    throw new AgentError('USAGE', 'reinit takes one pod: mysql-ha-agent reinit POD [--from DONOR] (--dir DIR | --agents URL,...)');
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "reinit needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const { url, client } = await agentOfPod('reinit', values, pod, token);
  let response: Response;
  try {
    response = await client.request(`${url}/reinit`, { method: 'POST', token, body: values.from ? { donor: values.from } : {}, timeoutMs: 30_000 });
  } catch (error) {
    throw new AgentError('AGENT_UNREACHABLE', `reinit: cannot reach ${pod}'s agent at ${url}: ${rootMessageOf(error)}`, { cause: error });
  }
  const answer = (await response.json()) as ReinitOutcome;
  if (!answer.ok) throw new AgentError('REINIT_REFUSED', `reinit refused by ${pod} (HTTP ${response.status}): ${answer.reason}`);
  process.stdout.write(`reinit: ${pod} copies ${answer.donor} now (${answer.reason}); follow it with mysql-ha-agent status\n`);
  return 0;
}
