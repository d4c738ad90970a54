import { AgentError } from '../errors.ts';
import type { ReinitOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { askAgent, printOutcome } from './control.ts';
import { agentOfPod, agentOptions, tokenFor } from './status.ts';

/**
 * `reinit POD [--from DONOR]`: asks POD's agent (POST /reinit) to replace its data with a copy of
 * a donor's, a replica's unless --from names one. Returns once the agent decided: the copy runs
 * on, and `status` shows it (state replica-rebuilding, with its progress) until the pod follows
 * the primary again.
 */
export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('reinit', {
    args,
    allowPositionals: true,
    options: { ...agentOptions, from: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [pod, ...extra] = positionals;
  if (pod === undefined || extra.length > 0)
    throw new AgentError('USAGE', 'reinit takes one pod: mysql-ha-agent reinit POD [--from DONOR] (--dir DIR | --agents URL,...)');
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "reinit needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const agent = await agentOfPod('reinit', values, pod, token);
  const body = values.from ? { donor: values.from } : {};
  const { status, answer } = await askAgent<ReinitOutcome>('reinit', pod, agent, '/reinit', { token, body, timeoutMs: 30_000 });
  if (!answer.ok) throw new AgentError('REINIT_REFUSED', `reinit refused by ${pod} (HTTP ${status}): ${answer.reason}`);
  printOutcome(values.json, answer, `reinit: ${pod} copies ${answer.donor} now (${answer.reason}); follow it with mysql-ha-agent list`);
  return 0;
}
