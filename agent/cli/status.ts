import { AgentError } from '../errors.ts';
import { collectStatus, formatStatusTable } from '../http/status-client.ts';
import { SandboxCluster } from '../sandbox/cluster.ts';
import { runtimeFor } from '../sandbox/runtime.ts';
import { parseCommandLine } from './args.ts';

/** Agent URLs from --agents, or from a sandbox's cluster.json with --dir. */
export function agentUrls(values: { dir?: string; agents?: string }): string[] {
  if (values.agents) return values.agents.split(',').map((url) => (url.includes('://') ? url : `http://${url}`));
  if (values.dir)
    return SandboxCluster.load(values.dir, runtimeFor)
      .describe()
      .pods.map((pod) => pod.agent);
  throw new AgentError('USAGE', 'status needs --dir DIR (a sandbox) or --agents URL,URL,...');
}

/** The agents' token, which /status needs to show its texts: MYSQL_HA_SWITCHOVER_TOKEN, else (for a sandbox) the one in its cluster.json. */
export function tokenFor(dir: string | undefined): string | null {
  return process.env.MYSQL_HA_SWITCHOVER_TOKEN ?? (dir ? SandboxCluster.load(dir, runtimeFor).describe().switchoverToken : null);
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('status', { args, options: { dir: { type: 'string' }, agents: { type: 'string' }, json: { type: 'boolean' } } });
  const rows = await collectStatus(agentUrls(values), tokenFor(values.dir));
  process.stdout.write(
    values.json
      ? `${JSON.stringify(
          rows.map((row) => row.status ?? { agent: row.agent, error: row.reason }),
          null,
          2,
        )}\n`
      : `${formatStatusTable(rows)}\n`,
  );
  return rows.every((row) => row.healthy) ? 0 : 1;
}
