import { AgentError } from '../errors.ts';
import { collectStatus } from '../http/status-client.ts';
import type { SwitchoverOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { askAgent, printOutcome } from './control.ts';
import { agentOptions, agentTargets, tokenFor } from './status.ts';

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('switchover', { args, options: { ...agentOptions, to: { type: 'string' }, json: { type: 'boolean' } } });
  const agents = await agentTargets(values);
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "switchover needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const rows = await collectStatus(agents, token);
  const primary = rows.find((row) => row.role === 'primary' && row.healthy);
  if (!primary)
    throw new AgentError(
      'NO_HEALTHY_PRIMARY',
      `switchover: no healthy primary among the agents at ${agents.map((agent) => agent.url).join(', ')}, and a planned switchover needs one`,
    );
  const agent = agents[rows.indexOf(primary)]!;
  const body = values.to ? { candidate: values.to } : {};
  const { status, answer } = await askAgent<SwitchoverOutcome>('switchover', primary.pod, agent, '/switchover', { token, body, timeoutMs: 60_000 });
  if (!answer.ok) throw new AgentError('SWITCHOVER_REFUSED', `switchover refused by ${primary.pod} (HTTP ${status}): ${answer.reason}`);
  printOutcome(
    values.json,
    answer,
    `switchover: ${answer.from} → ${answer.to}; writes stopped on ${answer.from} for ${answer.handoverMs} ms before the lease moved; ${answer.to} promotes itself now`,
  );
  return 0;
}
