import { AgentError, rootMessageOf } from '../errors.ts';
import { collectStatus } from '../http/status-client.ts';
import type { SwitchoverOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { agentUrls, tokenFor } from './status.ts';

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('switchover', { args, options: { dir: { type: 'string' }, agents: { type: 'string' }, to: { type: 'string' } } });
  const urls = agentUrls(values);
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "switchover needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const primary = (await collectStatus(urls, token)).find((row) => row.role === 'primary' && row.healthy);
  if (!primary)
    throw new AgentError('NO_HEALTHY_PRIMARY', `switchover: no healthy primary among the agents at ${urls.join(', ')}, and a planned switchover needs one`);
  let response: Response;
  try {
    response = await fetch(`${primary.agent}/switchover`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(values.to ? { candidate: values.to } : {}),
      signal: AbortSignal.timeout(60_000),
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
