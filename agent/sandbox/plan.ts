import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Flavor } from '../mysql/dialect/types.ts';
import { podName } from '../pod/ordinal.ts';
import type { SandboxPodSpec } from './pod.ts';

export interface ClusterPlanOptions {
  flavor: Flavor;
  replicas: number;
  /** Absolute directory for the whole cluster. */
  dir: string;
  statefulSet?: string;
  /** Pods get `${addressPrefix}${1..N}`, e.g. 127.0.10.1. */
  addressPrefix?: string;
  /** The etcd client URL the agents keep their lease in. */
  etcdEndpoint: string;
  /** Extra agent settings for every pod (MYSQL_HA_*). */
  env?: Record<string, string>;
}

export type SecretName = 'agent' | 'replication' | 'app' | 'admin' | 'switchover';

/**
 * Random credentials, written as files the way Kubernetes mounts a Secret (mode 0600);
 * existing ones are kept, so a sandbox started again keeps its passwords.
 */
export function readOrWriteSecrets(dir: string): Record<SecretName, string> {
  const secretsDir = join(dir, 'secrets');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  const files = {} as Record<SecretName, string>;
  for (const name of ['agent', 'replication', 'app', 'admin', 'switchover'] as const) {
    files[name] = join(secretsDir, `${name}-password`);
    if (!existsSync(files[name])) writeFileSync(files[name], randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  return files;
}

/** The file every agent of a sandbox reads its peers from (MYSQL_HA_PEERS_FILE): what the StatefulSet's size is in Kubernetes. */
export const peersFileOf = (dir: string) => join(dir, 'peers');

/** Lists `pods` in the sandbox's peers file; the agents read it again within a second. */
export function writePeersFile(dir: string, pods: Array<{ name: string; spec: { address: string } }>): void {
  writeFileSync(peersFileOf(dir), `${pods.map((pod) => `${pod.name}=${pod.spec.address}`).join(',')}\n`);
}

/** The pods of a sandbox cluster, each configured exactly as the StatefulSet configures one. */
export function planCluster(options: ClusterPlanOptions, secretFiles: Record<SecretName, string>): SandboxPodSpec[] {
  const { flavor, replicas, dir, statefulSet = 'mysql-ha', addressPrefix = '127.0.10.' } = options;
  const pods = Array.from({ length: replicas }, (_, ordinal) => ({ name: podName(statefulSet, ordinal), address: `${addressPrefix}${ordinal + 1}` }));
  return pods.map((pod) => ({
    ...pod,
    dir: join(dir, pod.name),
    env: {
      // Where the sandbox puts the pod's certificate (agent/sandbox/certificates.ts), as a mounted Secret.
      MYSQL_HA_TLS_DIR: join(dir, pod.name, 'tls'),
      POD_NAME: pod.name,
      MYSQL_HA_FLAVOR: flavor,
      MYSQL_HA_PEERS_FILE: peersFileOf(dir),
      MYSQL_HA_PEERS_REFRESH_MS: '1000',
      MYSQL_HA_MYSQL_HOST: pod.address,
      MYSQL_HA_HTTP_HOST: pod.address,
      MYSQL_HA_AGENT_PASSWORD_FILE: secretFiles.agent,
      MYSQL_HA_REPLICATION_PASSWORD_FILE: secretFiles.replication,
      MYSQL_HA_APP_PASSWORD_FILE: secretFiles.app,
      MYSQL_HA_ADMIN_PASSWORD_FILE: secretFiles.admin,
      MYSQL_HA_SWITCHOVER_TOKEN_FILE: secretFiles.switchover,
      MYSQL_HA_LEASE_BACKEND: 'etcd',
      MYSQL_HA_ETCD_ENDPOINTS: options.etcdEndpoint,
      ...options.env,
    },
  }));
}
