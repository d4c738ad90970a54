// DIR/cluster.json: what `sandbox up` leaves behind so later commands (status, kill, down,
// switchover) can reach and control the sandbox.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AgentError, messageOf } from '../errors.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { ADMIN_USER } from './admin-account.ts';
import { agentUrl } from './agents.ts';
import type { SandboxCluster } from './cluster.ts';
import { MYSQL_PORT } from './pod.ts';

/** DIR/cluster.json: everything needed to reach and control a sandbox (mode 0600: it holds passwords). */
export interface ClusterFile {
  flavor: Flavor;
  version: string | null;
  addressPrefix: string;
  pods: Array<{ name: string; mysql: { host: string; port: number }; agent: string; pid: { mysqld: number | null; agent: number | null } }>;
  haproxy: { write: { host: string; port: number }; read: { host: string; port: number }; stats: string; pid: number | null };
  etcd: { endpoint: string; pid: number | null };
  app: { user: string; password: string; database: string };
  admin: { user: string; password: string };
  /** Bearer token for POST /switchover, /pause and /resume (MYSQL_HA_SWITCHOVER_TOKEN). */
  switchoverToken: string;
}

/** The cluster as cluster.json records it: addresses, accounts, and the pid of every process. */
export function describeCluster(cluster: SandboxCluster): ClusterFile {
  const { writePort, readPort, statsPort } = cluster.haproxy.ports;
  return {
    flavor: cluster.flavor,
    version: cluster.version,
    addressPrefix: cluster.addressPrefix,
    pods: cluster.pods.map((pod) => ({
      name: pod.name,
      mysql: { host: pod.spec.address, port: MYSQL_PORT },
      agent: agentUrl(pod),
      pid: { mysqld: pod.mysqldPid ?? null, agent: pod.agentPid ?? null },
    })),
    haproxy: {
      write: { host: cluster.haproxyAddress, port: writePort },
      read: { host: cluster.haproxyAddress, port: readPort },
      stats: `http://${cluster.haproxyAddress}:${statsPort}/stats`,
      pid: cluster.haproxyPid ?? null,
    },
    etcd: { endpoint: cluster.etcdEndpoint, pid: cluster.etcdPid ?? null },
    app: { user: 'app', password: cluster.secrets.app, database: 'app' },
    admin: { user: ADMIN_USER, password: cluster.secrets.admin },
    switchoverToken: cluster.secrets.switchover,
  };
}

export function writeClusterFile(dir: string, described: ClusterFile): void {
  const file = join(dir, 'cluster.json');
  writeFileSync(file, `${JSON.stringify(described, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** DIR/cluster.json as saved; a missing one is SANDBOX_NOT_FOUND (there is no sandbox in DIR). */
export function readClusterFile(dir: string): ClusterFile {
  const file = join(resolve(dir), 'cluster.json');
  if (!existsSync(file)) {
    throw new AgentError('SANDBOX_NOT_FOUND', `no sandbox in ${resolve(dir)} (no cluster.json)`);
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
  } catch (error) {
    throw new AgentError('SANDBOX_FILE_UNREADABLE', `cannot read ${file}: ${messageOf(error)}`, { cause: error });
  }
}
