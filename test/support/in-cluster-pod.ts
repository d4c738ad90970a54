// What a process in a Kubernetes pod finds around it, for agents run on this machine: the
// service-account directory (token, ca.crt, namespace) at the path every pod has it, and an
// API server that answers only what the agent's RBAC Role grants.
//
// The directory is made in a mount namespace of the agent's own (`unshare --mount`): a tmpfs
// over /run (where /var/run points) holding just secrets/kubernetes.io/serviceaccount, bound
// read-only from the test's directory, as the kubelet mounts it. Nothing changes on the host,
// and the mounts go away with the process. It needs root (CAP_SYS_ADMIN), unshare and mount.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { serviceAccountDir } from '../../agent/kubernetes/in-cluster.ts';
import type { FakeKubeApi, KubeObject, Verb } from './fake-kube-api.ts';
import { requireTool, unshareBinary } from './tools.ts';

export interface ServiceAccountFiles {
  token: string;
  /** The API server's CA certificate (PEM). */
  caCert: string;
  namespace: string;
}

/** Writes token, ca.crt and namespace into `dir` as the kubelet does (no trailing newline). */
export function writeServiceAccountFiles(dir: string, files: ServiceAccountFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'token'), files.token, { mode: 0o644 });
  writeFileSync(join(dir, 'ca.crt'), files.caCert, { mode: 0o644 });
  writeFileSync(join(dir, 'namespace'), files.namespace, { mode: 0o644 });
}

// $1: the real directory behind /var/run; $2: the test's service-account directory; then the
// command, exec'd so that it keeps the pid (and process group) its starter recorded.
const MOUNT_SCRIPT = [
  'set -e',
  'run=$1 sa=$2',
  'shift 2',
  'mount -t tmpfs -o size=1m,mode=0755 mysql-ha-pod-run "$run"',
  'mkdir -p "$run/secrets/kubernetes.io/serviceaccount"',
  'mount --bind -o ro "$sa" "$run/secrets/kubernetes.io/serviceaccount"',
  'exec "$@"',
].join('\n');

/**
 * An argv prefix (SandboxPodSpec.agentCommandPrefix) that runs its command in a mount
 * namespace of its own where `serviceAccountDir` (/var/run/secrets/kubernetes.io/serviceaccount)
 * is `saDir`, read-only. /run is hidden behind an empty tmpfs for that process only: the
 * agent reaches mysqld over TCP and needs nothing else there.
 */
export function serviceAccountMountPrefix(saDir: string): string[] {
  requireTool('/usr/bin/mount', 'install mount (`apt-get install mount`)');
  const runDir = realpathSync('/var/run');
  if (!serviceAccountDir.startsWith('/var/run/')) throw new Error(`the agent's service-account directory ${serviceAccountDir} is not under /var/run`);
  return [unshareBinary(), '--mount', '--propagation', 'private', '/bin/sh', '-c', MOUNT_SCRIPT, 'sh', runDir, saDir];
}

/**
 * Runs `cat <serviceAccountDir>/namespace` behind `prefix` and throws, saying why, unless it
 * prints `namespace`: run before starting agents, so that a machine where the mounts cannot be
 * made fails with the reason rather than with agents that cannot find their API server.
 */
export function assertServiceAccountMount(prefix: string[], namespace: string): void {
  const [command, ...args] = prefix;
  const result = spawnSync(command!, [...args, '/bin/cat', `${serviceAccountDir}/namespace`], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0 || result.stdout !== namespace) {
    throw new Error(
      `cannot give a process its own ${serviceAccountDir} with unshare --mount (needs root): ` +
        `exit ${result.status}, ${result.error?.message ?? ''}${result.stderr}${result.stdout ? ` stdout: ${result.stdout}` : ''}`,
    );
  }
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes('mysql-ha-pod-run')) {
    throw new Error('the service-account mounts leaked into the host mount namespace');
  }
}

/** The resources the fake API server serves, by API group, as RBAC rules name them. */
const servedResources = { pods: '', events: '', statefulsets: 'apps', leases: 'coordination.k8s.io' } as const;
const verbs: readonly Verb[] = ['get', 'patch', 'create', 'update'];

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs?: string[];
}

/**
 * Makes `api` refuse (403, as RBAC does) every verb on every resource it serves that the Role
 * in `rbacFile` (manifests/rbac.yaml) does not grant, and every object a rule with resourceNames
 * does not name. Returns the grants, "verb resource".
 */
export function enforceRole(api: FakeKubeApi, rbacFile: string): string[] {
  const documents = parseAllDocuments(readFileSync(rbacFile, 'utf8')).map((document) => document.toJS() as { kind?: string; rules?: PolicyRule[] });
  const roles = documents.filter((document) => document?.kind === 'Role');
  if (roles.length !== 1) throw new Error(`${rbacFile}: expected one Role, found ${roles.length}`);
  const rules = roles[0]!.rules ?? [];
  const grants: string[] = [];
  for (const [resource, group] of Object.entries(servedResources)) {
    for (const verb of verbs) {
      const granting = rules.filter(
        (rule) =>
          (rule.apiGroups ?? []).some((g) => g === group || g === '*') &&
          (rule.resources ?? []).some((r) => r === resource || r === '*') &&
          (rule.verbs ?? []).some((v) => v === verb || v === '*'),
      );
      if (granting.length === 0) {
        api.deny(verb, resource);
        continue;
      }
      grants.push(`${verb} ${resource}`);
      // A rule without resourceNames grants every object; otherwise only the named ones.
      if (granting.every((rule) => rule.resourceNames !== undefined)) {
        api.allowOnly(
          verb,
          resource,
          granting.flatMap((rule) => rule.resourceNames!),
        );
      }
    }
  }
  return grants;
}

/** A Pod as the StatefulSet controller creates it (manifests/statefulset.yaml's template labels), for the fake API server. */
export function podObject(name: string, namespace: string, podIP: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: {
        'app.kubernetes.io/name': 'mysql-ha',
        'app.kubernetes.io/instance': 'mysql-ha',
        'app.kubernetes.io/component': 'database',
        'app.kubernetes.io/part-of': 'mysql-ha',
        'statefulset.kubernetes.io/pod-name': name,
      },
    },
    spec: {
      serviceAccountName: 'mysql-ha',
      containers: [
        { name: 'mysql', image: 'mysql-ha-mysql' },
        { name: 'agent', image: 'mysql-ha-agent' },
      ],
    },
    status: { phase: 'Running', podIP },
  };
}

/** The leader Lease as manifests/lease.yaml creates it (empty), placed in `namespace`. */
export function manifestLease(namespace: string, leaseFile = 'manifests/lease.yaml'): KubeObject {
  const lease = parseAllDocuments(readFileSync(leaseFile, 'utf8'))[0]?.toJS() as KubeObject | undefined;
  if (lease?.kind !== 'Lease') throw new Error(`${leaseFile}: expected a Lease`);
  return { ...lease, metadata: { ...lease.metadata, namespace } };
}
