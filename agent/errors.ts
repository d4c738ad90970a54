// One registry of every error the agent reports, each with a stable code (for
// alerts and docs) and a hint that tells the operator what to do next.
export const errorDefs = {
  CONFIG_INVALID: { code: 'MHA_CONFIG_INVALID', hint: 'fix the environment variables listed above and restart the agent' },
  POD_NAME_INVALID: { code: 'MHA_POD_NAME_INVALID', hint: 'set POD_NAME (Kubernetes: fieldRef metadata.name) to a StatefulSet pod name such as mysql-ha-0' },
  UNSUPPORTED_SERVER: { code: 'MHA_UNSUPPORTED_SERVER', hint: 'use MySQL 8.0.23 or later (8.4 LTS, 9.x) or MariaDB 10.6 or later' },
  MYSQL_QUERY_FAILED: { code: 'MHA_MYSQL_QUERY_FAILED', hint: 'see the MySQL error; the agent retries on its next observation' },
  MYSQL_FENCED_BY_SHUTDOWN: {
    code: 'MHA_MYSQL_FENCED_BY_SHUTDOWN',
    hint: 'nothing, if its supervisor (the container runtime) starts it again: it comes back read-only and rejoins; otherwise start mysqld',
  },
  MYSQLD_NOT_SUPERVISED: {
    code: 'MHA_MYSQLD_NOT_SUPERVISED',
    hint: 'start mysqld again; run it under a supervisor that restarts it on exit code 16 (the mysql-ha image entrypoint does)',
  },
  FILE_WRITE_FAILED: { code: 'MHA_FILE_WRITE_FAILED', hint: 'check that the directory exists and is writable by the agent' },
  USAGE: { code: 'MHA_USAGE', hint: 'run mysql-ha-agent --help' },
  SWITCHOVER_REFUSED: {
    code: 'MHA_SWITCHOVER_REFUSED',
    hint: 'fix what the reason names (or pick another candidate), then ask again; the primary kept serving',
  },
  FAILOVER_REFUSED: {
    code: 'MHA_FAILOVER_REFUSED',
    hint: "read the reason: resume automatic failover or stop the old primary's pod, pick another pod, or add --force knowing what it says would be lost",
  },
  REINIT_REFUSED: {
    code: 'MHA_REINIT_REFUSED',
    hint: 'fix what the reason names (a primary switches over first; another donor with --from), then ask again; the pod kept its data',
  },
  COPY_FAILED: {
    code: 'MHA_COPY_FAILED',
    hint: "the pod kept its data unless the message says mysqld was restarting: see the donor's and this agent's logs, fix what failed, then reinit again",
  },
  RESTART_FAILED: {
    code: 'MHA_RESTART_FAILED',
    hint: "see mysqld's error log; if the agent stopped, remove mysql-ha.hold beside mysqld's socket to have its supervisor start mysqld",
  },
  RESTART_REFUSED: { code: 'MHA_RESTART_REFUSED', hint: 'fix what the reason names, then ask again; mysqld was not touched' },
  CANNOT_CLONE: { code: 'MHA_CANNOT_CLONE', hint: 'rebuild this replica by hand: stop its pod, empty its data volume and start it again' },
  LEASE_CHANGED: { code: 'MHA_LEASE_CHANGED', hint: 'nothing to do: another node changed the lease first; this agent decides again on its next tick' },
  // Calls to the Kubernetes API (pod label, Events, the leader Lease), by the answer's status.
  KUBERNETES_UNAUTHORIZED: {
    code: 'MHA_KUBERNETES_UNAUTHORIZED',
    hint: 'the API server rejected the service-account token: check that the pod mounts one (automountServiceAccountToken)',
  },
  KUBERNETES_FORBIDDEN: {
    code: 'MHA_KUBERNETES_FORBIDDEN',
    hint: "grant the refused verb on that resource to the agent's ServiceAccount (see the Role in manifests/rbac.yaml)",
  },
  KUBERNETES_NOT_FOUND: { code: 'MHA_KUBERNETES_NOT_FOUND', hint: 'check that POD_NAME and the namespace (POD_NAMESPACE) name the running pod' },
  KUBERNETES_UNREACHABLE: {
    code: 'MHA_KUBERNETES_UNREACHABLE',
    hint: 'check that the API server is reachable from the pod; the agent tries again on its next call',
  },
  KUBERNETES_API_FAILED: { code: 'MHA_KUBERNETES_API_FAILED', hint: 'the agent tries again on its next call' },
  // The CLI finding the agents through the API with the user's kubeconfig (--kubernetes).
  KUBERNETES_DISCOVERY_FAILED: {
    code: 'MHA_KUBERNETES_DISCOVERY_FAILED',
    hint: 'check the kubeconfig context and namespace (kubectl get pods -n NAMESPACE -l SELECTOR lists them), or name the agents with --agents',
  },
  SERVICE_ACCOUNT_TOKEN_MISSING: {
    code: 'MHA_SERVICE_ACCOUNT_TOKEN_MISSING',
    hint: 'set automountServiceAccountToken: true on the pod (or its ServiceAccount)',
  },
  POD_NAMESPACE_UNKNOWN: { code: 'MHA_POD_NAMESPACE_UNKNOWN', hint: 'set POD_NAMESPACE (fieldRef metadata.namespace) on the agent container' },
  // The etcd lease store.
  ETCD_REQUEST_FAILED: {
    code: 'MHA_ETCD_REQUEST_FAILED',
    hint: 'check that etcd answers at MYSQL_HA_ETCD_ENDPOINTS from this pod; the agent tries again on its next call',
  },
  ETCD_PERMISSION_DENIED: {
    code: 'MHA_ETCD_PERMISSION_DENIED',
    hint: "give the agent's etcd user read and write access to the keys under /mysql-ha/<cluster>/",
  },
  LEASE_RECORD_UNREADABLE: {
    code: 'MHA_LEASE_RECORD_UNREADABLE',
    hint: 'delete the leader key (etcdctl del /mysql-ha/<cluster>/leader) so that the next election writes it afresh',
  },
  // Talking to the agents (the primary's /binlog-position, the CLI's switchover).
  PRIMARY_NOT_READY: {
    code: 'MHA_PRIMARY_NOT_READY',
    hint: "usually nothing: a starting primary answers within seconds; if it lasts, check the primary's agent (mysql-ha-agent status)",
  },
  AGENT_UNREACHABLE: {
    code: 'MHA_AGENT_UNREACHABLE',
    hint: 'check that the agent is running and that its HTTP port (MYSQL_HA_HTTP_PORT, default 8080) is reachable from here',
  },
  AGENT_CERTIFICATE_REFUSED: {
    code: 'MHA_AGENT_CERTIFICATE_REFUSED',
    hint: "an agent's certificate must be signed by the cluster's CA (MYSQL_HA_TLS_DIR/ca.crt; for the CLI, --ca-file) and name the host it is reached at: check the certificate Secret that pod mounts",
  },
  NO_HEALTHY_PRIMARY: {
    code: 'MHA_NO_HEALTHY_PRIMARY',
    hint: 'run mysql-ha-agent status: a planned switchover needs a healthy primary; without one the agents elect a new one by themselves',
  },
  // The sandbox (mysql-ha-agent sandbox …, the tests and the benchmark run on it).
  SANDBOX_NOT_FOUND: {
    code: 'MHA_SANDBOX_NOT_FOUND',
    hint: 'start one with mysql-ha-agent sandbox up --dir DIR, or pass the --dir an existing sandbox was started with',
  },
  SANDBOX_FILE_UNREADABLE: {
    code: 'MHA_SANDBOX_FILE_UNREADABLE',
    hint: 'sandbox up writes DIR/cluster.json: stop any process the sandbox left running, then start a new sandbox in another --dir',
  },
  PACKAGE_FILES_MISSING: {
    code: 'MHA_PACKAGE_FILES_MISSING',
    hint: 'run it from a checkout of mysql-ha-agent: the sandbox, the images and the benchmark read manifests/ and the Dockerfiles there',
  },
  SANDBOX_POD_UNKNOWN: { code: 'MHA_SANDBOX_POD_UNKNOWN', hint: 'use one of the pod names listed (mysql-ha-agent sandbox status shows them)' },
  SANDBOX_ADDRESS_IN_USE: {
    code: 'MHA_SANDBOX_ADDRESS_IN_USE',
    hint: 'stop whatever listens there (another sandbox? mysql-ha-agent sandbox down) or use other addresses',
  },
  SANDBOX_PREREQUISITES_MISSING: {
    code: 'MHA_SANDBOX_PREREQUISITES_MISSING',
    hint: 'run mysql-ha-agent sandbox install as root once (it installs what is missing), or point --mysqld at a mysqld binary that exists',
  },
  SANDBOX_COMMAND_FAILED: {
    code: 'MHA_SANDBOX_COMMAND_FAILED',
    hint: "read the command's error above, fix its cause (a missing package: mysql-ha-agent sandbox install), then run the sandbox command again",
  },
  SANDBOX_START_FAILED: {
    code: 'MHA_SANDBOX_START_FAILED',
    hint: 'read the log the message names and fix what it reports, then mysql-ha-agent sandbox down and up again',
  },
  SANDBOX_UNHEALTHY: {
    code: 'MHA_SANDBOX_UNHEALTHY',
    hint: "read each pod's reason above and its agent.log and mysqld.log; mysql-ha-agent sandbox status shows the cluster as it is now",
  },
  SANDBOX_NO_PRIMARY: {
    code: 'MHA_SANDBOX_NO_PRIMARY',
    hint: "read each pod's reason above and its agent.log: the agents elect a primary once their mysqld runs and etcd answers",
  },
  SANDBOX_HAPROXY_UNSETTLED: {
    code: 'MHA_SANDBOX_HAPROXY_UNSETTLED',
    hint: "read DIR/haproxy.log; HAProxy follows the agents' /primary and /replica answers: check them with mysql-ha-agent sandbox status",
  },
  SANDBOX_TIMEOUT: {
    code: 'MHA_SANDBOX_TIMEOUT',
    hint: "the sandbox did not reach the state named in time: read the pods' agent.log and mysqld.log, and mysql-ha-agent sandbox status",
  },
  // Images and the container sandbox (mysql-ha-agent images, sandbox up --runtime docker).
  DOCKER_UNAVAILABLE: {
    code: 'MHA_DOCKER_UNAVAILABLE',
    hint: 'run as root once: mysql-ha-agent images installs Debian docker.io and starts dockerd; or start your Docker Engine yourself',
  },
  DOCKER_FAILED: {
    code: 'MHA_DOCKER_FAILED',
    hint: "read docker's message above; docker ps -a and docker logs CONTAINER show what the containers did",
  },
  IMAGE_BUILD_FAILED: {
    code: 'MHA_IMAGE_BUILD_FAILED',
    hint: 'fix what the message reports; base root file systems are kept in /var/cache/mysql-ha-agent/rootfs: delete one to have it made again',
  },
  IMAGE_MISSING: {
    code: 'MHA_IMAGE_MISSING',
    hint: 'build the images first: npm run images (or mysql-ha-agent images --flavor FLAVOR)',
  },
} as const;

export type ErrorName = keyof typeof errorDefs;

export interface AgentErrorOptions {
  cause?: unknown;
  /** What to do in this instance, when it depends on the situation (e.g. the RBAC verb refused); default: the registry's hint. */
  hint?: string;
  /**
   * Also put what to do and the code in `message`, for an error the operator
   * sees only as a message: logged, or reported in /status by code that knows no AgentError.
   */
  hintInMessage?: boolean;
}

export class AgentError extends Error {
  readonly code: string;
  readonly hint: string;
  /** What failed: `message` without the hint, even when hintInMessage put it there. */
  readonly what: string;

  constructor(name: ErrorName, message: string, options: AgentErrorOptions = {}) {
    const { code } = errorDefs[name];
    const hint = options.hint ?? errorDefs[name].hint;
    super(options.hintInMessage ? oneLine(message, code, hint) : message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.hint = hint;
    this.what = message;
  }

  /** For a terminal: what failed, its code, what to do. */
  describe(): string {
    return `${this.what}\n  code: ${this.code}\n  what to do: ${this.hint}`;
  }
}

/** What failed; what to do (code): for a message that must carry its own hint. */
function oneLine(what: string, code: string, hint: string): string {
  return `${what}; what to do: ${hint} (${code})`;
}

/** One line for /status and the log: what failed and, for an AgentError, what to do and its code. */
export function explain(error: unknown): string {
  if (error instanceof AgentError) return error.message === error.what ? oneLine(error.what, error.code, error.hint) : error.message;
  return messageOf(error);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The innermost cause's message: fetch() says only "fetch failed"; its cause says ECONNREFUSED. Ours already say what failed. */
export function rootMessageOf(error: unknown): string {
  if (error instanceof AgentError) return error.message;
  return messageOf((error as { cause?: unknown }).cause ?? error);
}
