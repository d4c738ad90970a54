import { rootMessageOf } from '../errors.ts';
import type { Tags } from '../loop/state.ts';
import type { AgentClient } from './agent-client.ts';
import type { AgentStatus } from './status.ts';

/** What asking one agent for /status gave: its document, or why it could not be had. */
export type StatusAnswer = { agent: string; status: AgentStatus; unreachable: null } | { agent: string; status: null; unreachable: string };

/**
 * The one client of GET /status, for peers (elections), the CLI and the sandbox. An agent
 * that does not answer in time, or answers something that is not a status, is data.
 */
export async function fetchStatus(client: AgentClient, agentUrl: string, timeoutMs: number, token: string | null): Promise<StatusAnswer> {
  const agent = agentUrl.replace(/\/+$/, '');
  try {
    // With the token the agent answers the whole document; without it, free texts are withheld.
    const response = await client.request(`${agent}/status`, { token, timeoutMs });
    const status = (await response.json()) as AgentStatus;
    if (typeof status?.pod !== 'string') return { agent, status: null, unreachable: `${agent}/status answered ${response.status} without a status document` };
    return { agent, status, unreachable: null };
  } catch (error) {
    return { agent, status: null, unreachable: `agent unreachable (${rootMessageOf(error)})` };
  }
}

/** One row of the cluster table: what an agent's /status says, or why it could not be asked. */
export interface PodStatusRow {
  agent: string;
  pod: string;
  role: string;
  healthy: boolean;
  lagSeconds: number | null;
  /** Its tags where they differ from the defaults, e.g. "nofailover,priority=3"; "" for none. */
  tags: string;
  /** The lease's term as it sees it held, or null. */
  term: number | null;
  /** Automatic failover paused on it (null: not known). */
  paused: boolean | null;
  reason: string;
  status: AgentStatus | null;
}

function tagsText(tags: Tags | undefined): string {
  if (!tags) return '';
  const set = [tags.nofailover && 'nofailover', tags.failoverPriority !== 1 && `priority=${tags.failoverPriority}`, tags.noloadbalance && 'noloadbalance'];
  return set.filter(Boolean).join(',');
}

/** An agent to ask: its URL, and the client that verifies its certificate. */
export interface AgentTarget {
  url: string;
  client: AgentClient;
}

/** Asks every agent for /status at once; an unreachable agent is a row, not an error. */
export async function collectStatus(agents: AgentTarget[], token: string | null, timeoutMs = 2000): Promise<PodStatusRow[]> {
  return Promise.all(
    agents.map(async ({ url, client }): Promise<PodStatusRow> => {
      const { agent, status, unreachable } = await fetchStatus(client, url, timeoutMs, token);
      if (status === null) {
        return { agent, pod: '?', role: 'unknown', healthy: false, lagSeconds: null, tags: '', term: null, paused: null, reason: unreachable, status: null };
      }
      const { pod, role, healthy, reason, paused, lease } = status;
      const term = lease?.state === 'held' ? lease.term : null;
      return { agent, pod, role, healthy, lagSeconds: status.replication?.lagSeconds ?? null, tags: tagsText(status.tags), term, paused, reason, status };
    }),
  );
}

/** A plain-text table for humans. */
export function formatStatusTable(rows: PodStatusRow[]): string {
  const header = ['POD', 'AGENT', 'ROLE', 'HEALTH', 'LAG', 'TAGS', 'TERM', 'PAUSED', 'REASON'];
  const cells = rows.map((row) => [
    row.pod,
    row.agent.replace(/^http:\/\//, ''),
    row.role,
    row.healthy ? 'healthy' : 'UNHEALTHY',
    row.lagSeconds === null ? '-' : `${row.lagSeconds}s`,
    row.tags || '-',
    row.term === null ? '-' : String(row.term),
    row.paused === null ? '-' : row.paused ? 'yes' : 'no',
    row.reason,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  return [header, ...cells].map((line) => line.map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}
