import { rootMessageOf } from '../errors.ts';

/** One row of the cluster table: what an agent's /status says, or why it could not be asked. */
export interface PodStatusRow {
  agent: string;
  pod: string;
  role: string;
  healthy: boolean;
  lagSeconds: number | null;
  reason: string;
  status: Record<string, unknown> | null;
}

/** Asks every agent for /status at once; an unreachable agent is a row, not an error. */
export async function collectStatus(agentUrls: string[], timeoutMs = 2000): Promise<PodStatusRow[]> {
  return Promise.all(
    agentUrls.map(async (agent): Promise<PodStatusRow> => {
      try {
        const response = await fetch(`${agent.replace(/\/+$/, '')}/status`, { signal: AbortSignal.timeout(timeoutMs) });
        const status = (await response.json()) as {
          pod: string;
          role: string;
          healthy: boolean;
          reason: string;
          replication: { lagSeconds: number | null } | null;
        };
        return {
          agent,
          pod: status.pod,
          role: status.role,
          healthy: status.healthy,
          lagSeconds: status.replication?.lagSeconds ?? null,
          reason: status.reason,
          status,
        };
      } catch (error) {
        return {
          agent,
          pod: '?',
          role: 'unknown',
          healthy: false,
          lagSeconds: null,
          reason: `agent unreachable: ${rootMessageOf(error)}`,
          status: null,
        };
      }
    }),
  );
}

/** A plain-text table for humans. */
export function formatStatusTable(rows: PodStatusRow[]): string {
  const header = ['POD', 'AGENT', 'ROLE', 'HEALTH', 'LAG', 'REASON'];
  const cells = rows.map((row) => [
    row.pod,
    row.agent.replace(/^http:\/\//, ''),
    row.role,
    row.healthy ? 'healthy' : 'UNHEALTHY',
    row.lagSeconds === null ? '-' : `${row.lagSeconds}s`,
    row.reason,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  return [header, ...cells].map((line) => line.map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}
