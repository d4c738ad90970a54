import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../errors.ts';
import { fetchStatus } from '../http/status-client.ts';
import type { RestartOutcome, SwitchoverOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { askAgent, printOutcome } from './control.ts';
import { agentOfPod, agentOptions, tokenFor } from './status.ts';

/** How long a switched-over primary may take to follow the new one before its restart. */
const REJOIN_WAIT_MS = 60_000;
/** A restart waits for mysqld to stop (a buffer pool flushed) and start again (crash recovery). */
const RESTART_WAIT_MS = 15 * 60 * 1000;

/**
 * `restart POD`: restarts POD's mysqld (POST /restart to its agent), which drains its reads,
 * stops mysqld and has its supervisor start it again. A primary is switched over first (to the
 * most advanced replica), so the restart never costs the cluster its writes.
 */
export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('restart', { args, allowPositionals: true, options: { ...agentOptions, json: { type: 'boolean' } } });
  const [pod, ...extra] = positionals;
  if (pod === undefined || extra.length > 0) throw new AgentError('USAGE', 'restart takes one pod: mysql-ha-agent restart POD (--dir DIR | --agents URL,...)');
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "restart needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const agent = await agentOfPod('restart', values, pod, token);
  const { status } = await fetchStatus(agent.client, agent.url, 3000, token);
  let switchover: SwitchoverOutcome | null = null;
  if (status?.role === 'primary') {
    const asked = await askAgent<SwitchoverOutcome>('restart', pod, agent, '/switchover', { token, timeoutMs: 60_000 });
    switchover = asked.answer;
    if (!switchover.ok) {
      throw new AgentError('RESTART_REFUSED', `restart: ${pod} is the primary, and the switchover before its restart was refused: ${switchover.reason}`);
    }
    if (!values.json)
      process.stdout.write(`restart: ${pod} is the primary: switched over to ${switchover.to} first (writes stopped ${switchover.handoverMs} ms)\n`);
    // Restarted only once it follows the new primary: mid-demotion it refuses (it is busy).
    const deadline = Date.now() + REJOIN_WAIT_MS;
    for (;;) {
      const { status: now } = await fetchStatus(agent.client, agent.url, 3000, token);
      if (now?.role === 'replica' && now.healthy) break;
      if (Date.now() > deadline) {
        throw new AgentError(
          'RESTART_REFUSED',
          `restart: ${pod} was switched over but is no healthy replica after ${REJOIN_WAIT_MS / 1000} s: ${now?.reason ?? 'its agent does not answer'}`,
        );
      }
      await sleep(250);
    }
  }
  const { status: code, answer } = await askAgent<RestartOutcome>('restart', pod, agent, '/restart', { token, timeoutMs: RESTART_WAIT_MS });
  if (!answer.ok) throw new AgentError('RESTART_REFUSED', `restart refused by ${pod} (HTTP ${code}): ${answer.reason}`);
  printOutcome(values.json, { switchover, restart: answer }, `restart: mysqld of ${pod} restarted in ${answer.restartMs} ms; it rejoins as a replica`);
  return 0;
}
