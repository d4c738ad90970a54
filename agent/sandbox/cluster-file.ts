// DIR/cluster.json: what `sandbox up` leaves behind so later commands (status, kill, down,
// switchover) can reach and control the sandbox.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_ADMIN_USER } from '../config.ts';
import { AgentError, messageOf } from '../errors.ts';
import { haproxyDefaults } from '../haproxy/config.ts';
import type { AgentTarget } from '../http/status-client.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { agentClientOf, agentUrl } from './agents.ts';
import type { SecretName } from './plan.ts';
import { MYSQL_PORT } from './pod.ts';

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
    /** Its agent's URL: https:// with certificates. */
    agent: string;
    /** The name its certificate gives it, when that is not its address. */
    certificateName?: string;
    pid: { mysqld: number | null; agent: number | null };
    containers?: PodContainers;
  }>;
  /** The CA that signed the pods' certificates (absent in files older than certificates: none). */
  caFile?: string | null;
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
    certificateName?: string;
    pid?: { mysqld: number | undefined; agent: number | undefined };
    containers?: PodContainers;
  }>;
  caFile: string | null;
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
      agent: agentUrl({ name: pod.name, spec: { address: pod.address }, caFile: sandbox.caFile ?? undefined }),
      ...(pod.certificateName ? { certificateName: pod.certificateName } : {}),
      pid: { mysqld: pod.pid?.mysqld ?? null, agent: pod.pid?.agent ?? null },
      ...(pod.containers ? { containers: pod.containers } : {}),
    })),
    caFile: sandbox.caFile,
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

/** The sandbox's agents, each with the client that verifies its certificate. */
export function agentTargetsOf(described: ClusterFile): AgentTarget[] {
  return described.pods.map((pod) => ({
    url: pod.agent,
    client: agentClientOf({ name: pod.name, spec: { address: pod.mysql.host }, caFile: described.caFile ?? undefined, certificateName: pod.certificateName }),
  }));
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
