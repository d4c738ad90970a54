// DIR/cluster.json: what `sandbox up` leaves behind so later commands (status, kill, down,
// switchover) can reach and control the sandbox.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_ADMIN_USER } from '../config.ts';
import { AgentError, messageOf } from '../errors.ts';
import { haproxyDefaults } from '../haproxy/config.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import type { SecretName } from './plan.ts';
import { AGENT_PORT, MYSQL_PORT } from './pod.ts';

/** A container pod's containers: its network namespace (`pod`), the server and the agent. */
export type PodContainers = { pod: string; mysql: string; agent: string };

/** What a sandbox is, whichever way it runs. */
interface SandboxIdentity {
  flavor: Flavor;
  version: string | null;
  addressPrefix: string;
  /** The images a container sandbox runs. */
  images?: { agent: string; server: string };
}

/** DIR/cluster.json: everything needed to reach and control a sandbox (mode 0600: it holds passwords). */
export interface ClusterFile extends SandboxIdentity {
  /** How the pods run: processes on this machine, or containers (absent in files older than containers: processes). */
  runtime?: SandboxRuntime;
  pods: Array<{
    name: string;
    mysql: { host: string; port: number };
    agent: string;
    pid: { mysqld: number | null; agent: number | null };
    containers?: PodContainers;
  }>;
  haproxy: { write: { host: string; port: number }; read: { host: string; port: number }; stats: string; pid: number | null };
  etcd: { endpoint: string; pid: number | null };
  app: { user: string; password: string; database: string };
  admin: { user: string; password: string };
  /** Bearer token for POST /switchover, /pause and /resume (MYSQL_HA_SWITCHOVER_TOKEN). */
  switchoverToken: string;
}

export type SandboxRuntime = 'processes' | 'docker';

/** What either kind of sandbox knows of itself; cluster.json is written from it. */
export interface SandboxDescription extends SandboxIdentity {
  runtime: SandboxRuntime;
  pods: Array<{
    name: string;
    address: string;
    pid?: { mysqld: number | undefined; agent: number | undefined };
    containers?: PodContainers;
  }>;
  haproxyAddress: string;
  haproxyPid?: number | undefined;
  etcdEndpoint: string;
  etcdPid?: number | undefined;
  secrets: Record<SecretName, string>;
}

/** The cluster as cluster.json records it: addresses, accounts, and each pod's processes or containers. */
export function describeCluster(sandbox: SandboxDescription): ClusterFile {
  const { writePort, readPort, statsPort } = haproxyDefaults;
  return {
    runtime: sandbox.runtime,
    flavor: sandbox.flavor,
    version: sandbox.version,
    addressPrefix: sandbox.addressPrefix,
    ...(sandbox.images ? { images: sandbox.images } : {}),
    pods: sandbox.pods.map((pod) => ({
      name: pod.name,
      mysql: { host: pod.address, port: MYSQL_PORT },
      agent: `http://${pod.address}:${AGENT_PORT}`,
      pid: { mysqld: pod.pid?.mysqld ?? null, agent: pod.pid?.agent ?? null },
      ...(pod.containers ? { containers: pod.containers } : {}),
    })),
    haproxy: {
      write: { host: sandbox.haproxyAddress, port: writePort },
      read: { host: sandbox.haproxyAddress, port: readPort },
      stats: `http://${sandbox.haproxyAddress}:${statsPort}/stats`,
      pid: sandbox.haproxyPid ?? null,
    },
    etcd: { endpoint: sandbox.etcdEndpoint, pid: sandbox.etcdPid ?? null },
    app: { user: 'app', password: sandbox.secrets.app, database: 'app' },
    admin: { user: DEFAULT_ADMIN_USER, password: sandbox.secrets.admin },
    switchoverToken: sandbox.secrets.switchover,
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
