import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../errors.ts';
import { fetchStatus } from '../http/status-client.ts';
import type { FailoverOutcome } from '../loop/controls.ts';
import { parseCommandLine } from './args.ts';
import { askAgent, printOutcome } from './control.ts';
import { agentOfPod, agentOptions, tokenFor } from './status.ts';

/** How long the new primary may take to set itself up once it holds the lease. */
const PROMOTION_WAIT_MS = 60_000;

/**
 * `failover --to POD [--force]`: the primary is gone and automatic failover is paused or cannot
 * elect; POD takes the free lease (POST /failover to its agent). Its agent refuses, saying what
 * would be lost, when a peer has writes it lacks or cannot be seen, unless forced. Waits until
 * POD serves as the primary.
 */
export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('failover', {
    args,
    options: { ...agentOptions, to: { type: 'string' }, force: { type: 'boolean', default: false }, json: { type: 'boolean' } },
  });
  if (!values.to) throw new AgentError('USAGE', 'failover needs --to POD (the pod to make the primary)');
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', "failover needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)");
  const pod = values.to;
  const agent = await agentOfPod('failover', values, pod, token);
  const { url, client } = agent;
  const { status: code, answer } = await askAgent<FailoverOutcome>('failover', pod, agent, '/failover', {
    token,
    body: { force: values.force },
    timeoutMs: 30_000,
  });
  if (!answer.ok) throw new AgentError('FAILOVER_REFUSED', `failover to ${pod} refused (HTTP ${code}): ${answer.reason}`);
  if (!values.json) process.stdout.write(`failover: ${answer.reason}\n`);
  const deadline = Date.now() + PROMOTION_WAIT_MS;
  for (;;) {
    const { status } = await fetchStatus(client, url, 2000, token);
    if (status?.role === 'primary' && status.healthy) break;
    if (Date.now() > deadline) {
      throw new AgentError(
        'FAILOVER_REFUSED',
        `failover: ${pod} took the lease but does not serve as the primary after ${PROMOTION_WAIT_MS / 1000} s: ${status?.reason ?? 'its agent does not answer'}`,
      );
    }
    await sleep(250);
  }
  printOutcome(values.json, answer, `failover: ${pod} is the primary`);
  return 0;
}
