import type { Response } from 'undici';
import { AgentError, rootMessageOf } from '../errors.ts';
import { collectStatus } from '../http/status-client.ts';
import type { ReinitOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { agentOptions, agentTargets, tokenFor } from './status.ts';

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
  const agents = agentTargets(values);
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "reinit needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const rows = await collectStatus(agents, token);
  const index = rows.findIndex((row) => row.pod === pod);
  if (index < 0) {
    const known = rows.map((row) => row.pod).filter((name) => name !== '?');
    throw new AgentError('USAGE', `reinit: no agent answers for ${pod} (pods that answered: ${known.join(', ') || 'none'})`);
  }
  const { url, client } = agents[index]!;
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
