import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import type { ClusterFile } from './cluster-file.ts';
import { ensurePrerequisites, onPath } from './install.ts';

/** Where a session connects: one pod's mysqld as the administrator, or HAProxy's write or read port as the application. */
export type SqlTarget = { pod: string } | { port: 'write' | 'read' };

/**
 * `sandbox sql`: runs Debian's client (mariadb, which speaks to MySQL too; installed when missing)
 * against the sandbox, interactive or with `execute`. The password goes in a private defaults file
 * that is removed when the client exits, never on its command line. Resolves to the client's exit code.
 */
export async function openSqlSession(cluster: ClusterFile, dir: string, target: SqlTarget, execute: string | undefined): Promise<number> {
  let endpoint: { host: string; port: number; user: string; password: string; database?: string };
  if ('pod' in target) {
    const pod = cluster.pods.find((candidate) => candidate.name === target.pod);
    if (!pod) throw new AgentError('USAGE', `sandbox sql: no pod ${target.pod} (pods: ${cluster.pods.map((candidate) => candidate.name).join(', ')})`);
    endpoint = { ...pod.mysql, ...cluster.admin };
  } else {
    endpoint = { ...cluster.haproxy[target.port], user: cluster.app.user, password: cluster.app.password, database: cluster.app.database };
  }
  await ensurePrerequisites({ flavors: [], sqlClient: true }, (line) => process.stderr.write(`mysql-ha-agent: ${line}\n`));
  const client = onPath('mariadb') ? 'mariadb' : 'mysql';
  const sessionDir = mkdtempSync(join(dir, '.sql-'));
  const defaults = join(sessionDir, 'client.cnf');
  const lines = [
    '[client]',
    `host=${endpoint.host}`,
    `port=${endpoint.port}`,
    `user=${endpoint.user}`,
    `password=${endpoint.password}`,
    ...(endpoint.database ? [`database=${endpoint.database}`] : []),
    // The pods' certificates: encrypted (HAProxy passes TLS through, so the name is the pod's, not HAProxy's).
    ...(cluster.caFile ? [`ssl-ca=${cluster.caFile}`] : []),
  ];
  writeFileSync(defaults, `${lines.join('\n')}\n`, { mode: 0o600 });
  try {
    // --defaults-extra-file must come first.
    const child = spawn(client, [`--defaults-extra-file=${defaults}`, ...(execute === undefined ? [] : ['-e', execute])], { stdio: 'inherit' });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code ?? 1;
  } finally {
    rmSync(sessionDir, { recursive: true, force: true });
  }
}
