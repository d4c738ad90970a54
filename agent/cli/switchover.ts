import type { Response } from 'undici';
import { AgentError, rootMessageOf } from '../errors.ts';
import { collectStatus } from '../http/status-client.ts';
import type { SwitchoverOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { agentOptions, agentTargets, tokenFor } from './status.ts';

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('switchover', { args, options: { ...agentOptions, to: { type: 'string' } } });
  const agents = agentTargets(values);
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "switchover needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const rows = await collectStatus(agents, token);
  const primary = rows.find((row) => row.role === 'primary' && row.healthy);
  if (!primary)
    throw new AgentError(
      'NO_HEALTHY_PRIMARY',
      `switchover: no healthy primary among the agents at ${agents.map((agent) => agent.url).join(', ')}, and a planned switchover needs one`,
    );
  const { client } = agents[rows.indexOf(primary)]!;
  let response: Response;
  try {
    response = await client.request(`${primary.agent}/switchover`, {
      method: 'POST',
      token,
      body: values.to ? { candidate: values.to } : {},
      timeoutMs: 60_000,
    });
  } catch (error) {
    throw new AgentError('AGENT_UNREACHABLE', `switchover: cannot reach ${primary.pod}'s agent at ${primary.agent}: ${rootMessageOf(error)}`, { cause: error });
  }
  const answer = (await response.json()) as SwitchoverOutcome;
  if (!answer.ok) throw new AgentError('SWITCHOVER_REFUSED', `switchover refused by ${primary.pod} (HTTP ${response.status}): ${answer.reason}`);
  process.stdout.write(
    `switchover: ${answer.from} → ${answer.to}; writes stopped on ${answer.from} for ${answer.handoverMs} ms before the lease moved; ${answer.to} promotes itself now\n`,
  );
  return 0;
}
