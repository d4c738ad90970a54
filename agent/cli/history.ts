import type { LeaseHistoryEntry } from '../coordination/lease.ts';
import { AgentError, rootMessageOf } from '../errors.ts';
import { parseCommandLine } from './args.ts';
import { agentOptions, agentTargets, tokenFor } from './status.ts';

/** A plain-text table for humans, oldest change first. */
function formatHistory(history: LeaseHistoryEntry[]): string {
  const header = ['TERM', 'AT', 'FROM', 'TO', 'HOW', 'REASON'];
  const cells = history.map((entry) => [String(entry.term), new Date(entry.at).toISOString(), entry.from ?? '-', entry.holder, entry.how, entry.reason]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  return [header, ...cells].map((line) => line.map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}

/**
 * `history`: every change of lease holder (time, from, to, how, why) as the lease store keeps it,
 * read through the first agent that answers (any agent reads the same store).
 */
export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('history', { args, options: { ...agentOptions, json: { type: 'boolean' } } });
  const token = tokenFor(values.dir);
  const failures: string[] = [];
  for (const { url, client } of await agentTargets(values)) {
    try {
      const response = await client.request(`${url}/history`, { token, timeoutMs: 5000 });
      const body = (await response.json()) as { ok: boolean; history?: LeaseHistoryEntry[]; reason?: string };
      if (!response.ok || !body.history) {
        failures.push(`${url}: ${body.reason ?? `answered ${response.status}`}`);
        continue;
      }
      process.stdout.write(values.json ? `${JSON.stringify(body.history, null, 2)}\n` : `${formatHistory(body.history)}\n`);
      return 0;
    } catch (error) {
      failures.push(`${url}: agent unreachable (${rootMessageOf(error)})`);
    }
  }
  throw new AgentError('AGENT_UNREACHABLE', `history: no agent gave the lease history:\n  ${failures.join('\n  ')}`);
}
