import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod/mini';
// zod's tree-shakeable build: the same checks in a small part of the bundle (full zod is 580 KiB),
// with the English messages full zod gives by default.
import en from 'zod/v4/locales/en.js';
import { AgentError, messageOf } from './errors.ts';
import type { Tags } from './loop/state.ts';
import { type PodIdentity, parsePodName, podName } from './pod/ordinal.ts';

// Every setting comes from the environment (how Kubernetes hands them to a
// container). The README's configuration table lists the same names.

z.config(en());

const flavor = z.enum(['mysql', 'mariadb']);

/** Longer than HAProxy takes to stop sending a pod traffic once its checks fail (failureDetectionSeconds in agent/haproxy/config.ts). */
export const DEFAULT_DRAIN_MS = 2000;

/** The administrator for people, as the sandbox and the manifests name it. */
export const DEFAULT_ADMIN_USER = 'admin';
/** The agent's own account. */
export const DEFAULT_AGENT_USER = 'mysqlha_agent';
const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));
/** A tag set from a pod annotation through the downward API is "" when the annotation is absent: unset. */
const tag = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((value: unknown) => (value === '' ? undefined : value)),
    schema,
  );
const sqlName = z.string().check(z.regex(/^[A-Za-z0-9_]{1,32}$/, 'letters, digits and _ only, at most 32 characters'));

const PEER_LIST = /^[^=,\s]+=[^=,\s]+(,[^=,\s]+=[^=,\s]+)*$/;

const envSchema = z.object({
  POD_NAME: z.optional(z.string().check(z.minLength(1))),
  POD_REVISION: z.optional(z.string().check(z.minLength(1))),
  MYSQL_HA_FLAVOR: z._default(flavor, 'mysql'),
  MYSQL_HA_SERVER_ID_BASE: z._default(int(1, 4_000_000_000), 100),
  MYSQL_HA_PEERS: z.optional(z.string().check(z.regex(PEER_LIST, 'a comma-separated list of pod=host'))),
  /** Like MYSQL_HA_PEERS, from a file read again every MYSQL_HA_PEERS_REFRESH_MS (the sandbox scales with it). */
  MYSQL_HA_PEERS_FILE: z.optional(z.string().check(z.startsWith('/', 'an absolute path'))),
  MYSQL_HA_SERVICE: z.optional(z.string().check(z.regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS name'))),
  MYSQL_HA_REPLICAS: z._default(int(1, 64), 3),
  MYSQL_HA_PEERS_REFRESH_MS: z._default(int(1000, 3_600_000), 30_000),
  MYSQL_HA_BOOTSTRAP_PRIMARY: z.optional(z.string().check(z.minLength(1))),
  MYSQL_HA_MYSQL_HOST: z._default(z.string().check(z.minLength(1)), '127.0.0.1'),
  MYSQL_HA_MYSQL_PORT: z._default(int(1, 65535), 3306),
  MYSQL_HA_AGENT_USER: z._default(sqlName, DEFAULT_AGENT_USER),
  MYSQL_HA_REPLICATION_USER: z._default(sqlName, 'mysqlha_repl'),
  MYSQL_HA_APP_USER: z._default(sqlName, 'app'),
  MYSQL_HA_ADMIN_USER: z._default(sqlName, DEFAULT_ADMIN_USER),
  MYSQL_HA_APP_DATABASE: z._default(sqlName, 'app'),
  MYSQL_HA_HTTP_HOST: z._default(z.string().check(z.minLength(1)), '0.0.0.0'),
  MYSQL_HA_HTTP_PORT: z._default(int(1, 65535), 8080),
  MYSQL_HA_MAX_LAG_SECONDS: z._default(int(0, 86_400), 10),
  MYSQL_HA_LOOP_INTERVAL_MS: z._default(int(100, 60_000), 500),
  MYSQL_HA_LIVENESS_TIMEOUT_MS: z._default(int(1000, 600_000), 30_000),
  MYSQL_HA_LOG_LEVEL: z._default(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
  MYSQL_HA_LEASE_BACKEND: z._default(z.enum(['kubernetes', 'etcd']), 'kubernetes'),
  MYSQL_HA_ETCD_ENDPOINTS: z.optional(z.string().check(z.regex(/^https?:\/\/[^,\s]+(,https?:\/\/[^,\s]+)*$/, 'a comma-separated list of http(s)://host:port'))),
  MYSQL_HA_CLUSTER_NAME: z.optional(z.string().check(z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label'))),
  MYSQL_HA_LEASE_TTL_MS: z._default(int(2000, 600_000), 5000),
  MYSQL_HA_RENEW_PERIOD_MS: z._default(int(100, 60_000), 1000),
  MYSQL_HA_STORE_TIMEOUT_MS: z._default(int(100, 60_000), 1000),
  MYSQL_HA_STATUS_TIMEOUT_MS: z._default(int(100, 60_000), 1000),
  MYSQL_HA_MYSQLD_DOWN_GRACE_MS: z._default(int(0, 600_000), 1000),
  MYSQL_HA_MYSQLD_GONE_GRACE_MS: z._default(int(0, 600_000), 0),
  MYSQL_HA_FAILOVER_WINDOW_MS: z._default(int(0, 86_400_000), 30_000),
  MYSQL_HA_TERMINATION_TIMEOUT_MS: z._default(int(1000, 3_600_000), 40_000),
  MYSQL_HA_DRAIN_MS: z._default(int(0, 600_000), DEFAULT_DRAIN_MS),
  MYSQL_HA_MYSQLD_MAY_STOP_FILE: z.optional(z.string().check(z.startsWith('/', 'an absolute path'))),
  MYSQL_HA_LOSSLESS: z._default(z.enum(['auto', 'on', 'off']), 'auto'),
  MYSQL_HA_PAUSED: z._default(z.enum(['true', 'false']), 'false'),
  MYSQL_HA_AUTO_REBUILD: z._default(z.enum(['true', 'false']), 'true'),
  MYSQL_HA_TLS_DIR: z.optional(z.string().check(z.startsWith('/', 'an absolute path'))),
  MYSQL_HA_REQUIRE_SECURE_TRANSPORT: z._default(z.enum(['true', 'false']), 'false'),
  MYSQL_HA_NOFAILOVER: tag(z._default(z.enum(['true', 'false']), 'false')),
  MYSQL_HA_FAILOVER_PRIORITY: tag(z._default(int(0, 1_000_000), 1)),
  MYSQL_HA_NOLOADBALANCE: tag(z._default(z.enum(['true', 'false']), 'false')),
});

type Env = Record<string, string | undefined>;

export interface Peer {
  name: string;
  /** Host name or address where this pod's mysqld and agent listen. */
  host: string;
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * The node's certificate, its key and the CA that signed every node's, as files in one directory
 * laid out like a cert-manager Secret (ca.crt, tls.crt, tls.key).
 */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Server TLS: the certificates, and whether mysqld refuses clients without TLS. */
export interface ServerTls {
  files: TlsFiles | null;
  requireSecureTransport: boolean;
}

export interface StageConfig {
  pod: PodIdentity;
  flavor: z.infer<typeof flavor>;
  serverId: number;
  reportHost: string;
  agent: Credentials;
  /** The people's administrator (every privilege, with a password), when a password is given: root is locked. */
  admin: Credentials | null;
  appDatabase: string;
  tls: ServerTls;
}

export interface RunConfig {
  pod: PodIdentity;
  /**
   * Where the peers come from when MYSQL_HA_PEERS does not list them: the StatefulSet's pods
   * under its headless Service; in Kubernetes its spec.replicas is read again every `refreshMs`.
   */
  statefulSetPeers: { statefulSet: string; service: string; refreshMs: number } | null;
  /** MYSQL_HA_PEERS_FILE, read again every `refreshMs` (null: not set). */
  peersFile: { path: string; refreshMs: number } | null;
  /** The pod template's revision (controller-revision-hash label), to prefer updated pods in a rolling update. */
  podRevision: string | null;
  peers: Peer[];
  bootstrapPrimary: string;
  mysql: { host: string; port: number };
  agent: Credentials;
  /** The people's administrator's user name (its password is the stage step's only). */
  adminUser: string;
  replication: Credentials;
  app: Credentials & { database: string };
  /** The Secret files the agent, replication and application passwords come from (null: from the environment, fixed); read again to rotate them. */
  passwordFiles: { agent: string | null; replication: string | null; app: string | null };
  http: { host: string; port: number };
  maxLagSeconds: number;
  loopIntervalMs: number;
  livenessTimeoutMs: number;
  logLevel: string;
  lease: { backend: 'kubernetes' } | { backend: 'etcd'; endpoints: string[] };
  clusterName: string;
  timings: {
    leaseTtlMs: number;
    renewPeriodMs: number;
    storeTimeoutMs: number;
    /** Each status statement of an observation of the local mysqld (a slower answer means it is hung). */
    statusTimeoutMs: number;
    /** The holder turns read-only this long before its lease could expire: one loop tick, one store call and one hung mysqld's observation. */
    fenceMarginMs: number;
    /** How long a primary's mysqld may listen without answering before the lease goes. */
    mysqldDownGraceMs: number;
    /** How long a primary's mysqld may be gone (nothing listening) before the lease goes: 0, at once. */
    mysqldGoneGraceMs: number;
    failoverWindowMs: number;
    /** After SIGTERM, how long the agent may take to hand over before it exits anyway. */
    terminationTimeoutMs: number;
    /** After SIGTERM, how long every check fails before mysqld may stop, so HAProxy sends it nothing more. */
    drainMs: number;
  };
  /** Written once this agent has nothing left for its mysqld to do at termination (the server container's preStop hook waits for it). */
  mysqldMayStopFile: string | null;
  /** Semi-synchronous replication (AFTER_SYNC, never falling back) on the primary. */
  lossless: boolean;
  paused: boolean;
  /** Clone the primary over a former primary's never-acknowledged transactions (lossless mode, MySQL). */
  autoRebuild: boolean;
  /** Bearer token for POST /switchover; switchover is refused without one. */
  switchoverToken: string | null;
  /** Without certificates, replication and clone are encrypted at best, never verified. */
  tls: ServerTls;
  /** This pod's tags (MYSQL_HA_NOFAILOVER, MYSQL_HA_FAILOVER_PRIORITY, MYSQL_HA_NOLOADBALANCE; in Kubernetes from its annotations). */
  tags: Tags;
}

/** Collects every problem (not just the first) so one restart fixes them all. */
class Problems {
  readonly list: string[] = [];
  add(variable: string, problem: string): void {
    this.list.push(`${variable}: ${problem}`);
  }
  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new AgentError('CONFIG_INVALID', `invalid configuration:\n  - ${this.list.join('\n  - ')}`);
    }
  }
}

function parseEnv(env: Env, problems: Problems): z.infer<typeof envSchema> | undefined {
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    problems.add(String(issue.path[0] ?? '?'), `${issue.message} (got ${JSON.stringify(env[String(issue.path[0])] ?? null)})`);
  }
  return undefined;
}

/** A secret comes from NAME or from the file named by NAME_FILE (a mounted Secret), never both. */
function readSecret(env: Env, name: string, problems: Problems): string {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    problems.add(name, `set either ${name} or ${name}_FILE, not both`);
    return '';
  }
  let value = direct;
  if (file !== undefined) {
    try {
      value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.add(`${name}_FILE`, `cannot read ${file}: ${messageOf(error)}`);
      return '';
    }
  }
  if (value === undefined || value === '') {
    problems.add(name, `required: set ${name} or ${name}_FILE (there is no default password)`);
    return '';
  }
  return value;
}

/** An optional secret: NAME or NAME_FILE, or neither. */
function readOptionalSecret(env: Env, name: string, problems: Problems): string | null {
  return env[name] === undefined && env[`${name}_FILE`] === undefined ? null : readSecret(env, name, problems);
}

/** MYSQL_HA_TLS_DIR's three files, each checked readable now rather than by mysqld at its start. */
function readServerTls(parsed: z.infer<typeof envSchema> | undefined, problems: Problems): ServerTls {
  const dir = parsed?.MYSQL_HA_TLS_DIR;
  const requireSecureTransport = parsed?.MYSQL_HA_REQUIRE_SECURE_TRANSPORT === 'true';
  if (requireSecureTransport && !dir) {
    problems.add('MYSQL_HA_REQUIRE_SECURE_TRANSPORT', "needs MYSQL_HA_TLS_DIR: without the servers' certificates no client could connect");
  }
  if (!dir) return { files: null, requireSecureTransport };
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  for (const file of Object.values(files)) {
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      problems.add('MYSQL_HA_TLS_DIR', `cannot read ${file} (a cert-manager Secret holds ca.crt, tls.crt and tls.key): ${messageOf(error)}`);
    }
  }
  return { files, requireSecureTransport };
}

function parsePeers(spec: string): Peer[] {
  return spec.split(',').map((entry) => {
    const [name, host] = entry.split('=') as [string, string];
    return { name, host };
  });
}

function resolvePod(env: Env, problems: Problems): PodIdentity | undefined {
  try {
    return parsePodName(env.POD_NAME ?? hostname());
  } catch (error) {
    problems.add('POD_NAME', messageOf(error));
    return undefined;
  }
}

/**
 * The peers a file lists (MYSQL_HA_PEERS_FILE: `pod=host,pod=host`, as MYSQL_HA_PEERS), which must
 * include `self`; throws CONFIG_INVALID saying what is wrong with it.
 */
export function readPeersFile(path: string, self: string): Peer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new AgentError('CONFIG_INVALID', `MYSQL_HA_PEERS_FILE: cannot read ${path}: ${messageOf(error)}`);
  }
  if (!PEER_LIST.test(text)) throw new AgentError('CONFIG_INVALID', `MYSQL_HA_PEERS_FILE: ${path} is not a comma-separated list of pod=host`);
  const peers = parsePeers(text);
  if (!peers.some((peer) => peer.name === self)) throw new AgentError('CONFIG_INVALID', `MYSQL_HA_PEERS_FILE: ${path} does not list this pod (${self})`);
  return peers;
}

/** Peers: explicit MYSQL_HA_PEERS (or a file of them), or the StatefulSet's pods under its headless Service. */
function resolvePeers(parsed: z.infer<typeof envSchema>, pod: PodIdentity, problems: Problems): Peer[] {
  if (parsed.MYSQL_HA_PEERS_FILE) {
    if (parsed.MYSQL_HA_PEERS) problems.add('MYSQL_HA_PEERS_FILE', 'set either MYSQL_HA_PEERS or MYSQL_HA_PEERS_FILE, not both');
    try {
      return readPeersFile(parsed.MYSQL_HA_PEERS_FILE, pod.name);
    } catch (error) {
      problems.add('MYSQL_HA_PEERS_FILE', messageOf(error).replace(/^MYSQL_HA_PEERS_FILE: /, ''));
      return [];
    }
  }
  if (parsed.MYSQL_HA_PEERS) {
    const peers = parsePeers(parsed.MYSQL_HA_PEERS);
    if (!peers.some((peer) => peer.name === pod.name)) {
      problems.add('MYSQL_HA_PEERS', `does not list this pod (${pod.name})`);
    }
    return peers;
  }
  return statefulSetPeers(pod.statefulSet, parsed.MYSQL_HA_SERVICE ?? pod.statefulSet, parsed.MYSQL_HA_REPLICAS);
}

/** The pods of a StatefulSet of `replicas` pods, by their names under its headless Service. */
export function statefulSetPeers(statefulSet: string, service: string, replicas: number): Peer[] {
  return Array.from({ length: replicas }, (_, ordinal) => {
    const name = podName(statefulSet, ordinal);
    return { name, host: `${name}.${service}` };
  });
}

export function loadStageConfig(env: Env): StageConfig {
  const problems = new Problems();
  const parsed = parseEnv(env, problems);
  const pod = resolvePod(env, problems);
  const agentPassword = readSecret(env, 'MYSQL_HA_AGENT_PASSWORD', problems);
  const adminPassword = readOptionalSecret(env, 'MYSQL_HA_ADMIN_PASSWORD', problems);
  const peers = parsed && pod ? resolvePeers(parsed, pod, problems) : [];
  const tls = readServerTls(parsed, problems);
  problems.throwIfAny();
  const p = parsed!;
  const self = pod!;
  return {
    pod: self,
    flavor: p.MYSQL_HA_FLAVOR,
    serverId: p.MYSQL_HA_SERVER_ID_BASE + self.ordinal,
    reportHost: peers.find((peer) => peer.name === self.name)?.host ?? self.name,
    agent: { user: p.MYSQL_HA_AGENT_USER, password: agentPassword },
    admin: adminPassword === null ? null : { user: p.MYSQL_HA_ADMIN_USER, password: adminPassword },
    appDatabase: p.MYSQL_HA_APP_DATABASE,
    tls,
  };
}

export function loadRunConfig(env: Env): RunConfig {
  const problems = new Problems();
  const parsed = parseEnv(env, problems);
  const pod = resolvePod(env, problems);
  const agentPassword = readSecret(env, 'MYSQL_HA_AGENT_PASSWORD', problems);
  const replicationPassword = readSecret(env, 'MYSQL_HA_REPLICATION_PASSWORD', problems);
  const appPassword = readSecret(env, 'MYSQL_HA_APP_PASSWORD', problems);
  const peers = parsed && pod ? resolvePeers(parsed, pod, problems) : [];
  const bootstrapPrimary = parsed?.MYSQL_HA_BOOTSTRAP_PRIMARY ?? (pod ? podName(pod.statefulSet, 0) : '');
  // No peers at all is already a problem of their own setting.
  if (parsed && pod && peers.length > 0 && !peers.some((peer) => peer.name === bootstrapPrimary)) {
    problems.add('MYSQL_HA_BOOTSTRAP_PRIMARY', `${bootstrapPrimary} is not one of the peers (${peers.map((x) => x.name).join(', ')})`);
  }
  const switchoverToken = readOptionalSecret(env, 'MYSQL_HA_SWITCHOVER_TOKEN', problems);
  const tls = readServerTls(parsed, problems);
  if (parsed?.MYSQL_HA_LEASE_BACKEND === 'etcd' && !parsed.MYSQL_HA_ETCD_ENDPOINTS) {
    problems.add('MYSQL_HA_ETCD_ENDPOINTS', 'required with MYSQL_HA_LEASE_BACKEND=etcd');
  }
  // A tick may take its interval, a store call and an observation of a hung mysqld before it can fence.
  const fenceMarginMs = parsed ? parsed.MYSQL_HA_LOOP_INTERVAL_MS + parsed.MYSQL_HA_STORE_TIMEOUT_MS + parsed.MYSQL_HA_STATUS_TIMEOUT_MS : 0;
  if (parsed) {
    // The holder must be able to fail one renewal, retry, and still fence before the lease can run out.
    const { MYSQL_HA_RENEW_PERIOD_MS: renew, MYSQL_HA_STORE_TIMEOUT_MS: timeout, MYSQL_HA_LEASE_TTL_MS: ttl } = parsed;
    if (renew + 2 * timeout >= ttl) {
      problems.add(
        'MYSQL_HA_LEASE_TTL_MS',
        `must exceed MYSQL_HA_RENEW_PERIOD_MS + 2 × MYSQL_HA_STORE_TIMEOUT_MS (${renew} + 2 × ${timeout} = ${renew + 2 * timeout} ms; got ${ttl} ms)`,
      );
    }
    if (fenceMarginMs + renew >= ttl) {
      problems.add(
        'MYSQL_HA_LEASE_TTL_MS',
        'must exceed MYSQL_HA_RENEW_PERIOD_MS + MYSQL_HA_LOOP_INTERVAL_MS + MYSQL_HA_STORE_TIMEOUT_MS + MYSQL_HA_STATUS_TIMEOUT_MS ' +
          `(${fenceMarginMs + renew} ms; got ${ttl} ms)`,
      );
    }
  }
  problems.throwIfAny();
  const p = parsed!;
  return {
    pod: pod!,
    podRevision: p.POD_REVISION ?? null,
    statefulSetPeers:
      p.MYSQL_HA_PEERS || p.MYSQL_HA_PEERS_FILE
        ? null
        : { statefulSet: pod!.statefulSet, service: p.MYSQL_HA_SERVICE ?? pod!.statefulSet, refreshMs: p.MYSQL_HA_PEERS_REFRESH_MS },
    peersFile: p.MYSQL_HA_PEERS_FILE ? { path: p.MYSQL_HA_PEERS_FILE, refreshMs: p.MYSQL_HA_PEERS_REFRESH_MS } : null,
    peers,
    bootstrapPrimary,
    mysql: { host: p.MYSQL_HA_MYSQL_HOST, port: p.MYSQL_HA_MYSQL_PORT },
    agent: { user: p.MYSQL_HA_AGENT_USER, password: agentPassword },
    adminUser: p.MYSQL_HA_ADMIN_USER,
    replication: { user: p.MYSQL_HA_REPLICATION_USER, password: replicationPassword },
    app: { user: p.MYSQL_HA_APP_USER, password: appPassword, database: p.MYSQL_HA_APP_DATABASE },
    passwordFiles: {
      agent: env.MYSQL_HA_AGENT_PASSWORD_FILE ?? null,
      replication: env.MYSQL_HA_REPLICATION_PASSWORD_FILE ?? null,
      app: env.MYSQL_HA_APP_PASSWORD_FILE ?? null,
    },
    http: { host: p.MYSQL_HA_HTTP_HOST, port: p.MYSQL_HA_HTTP_PORT },
    maxLagSeconds: p.MYSQL_HA_MAX_LAG_SECONDS,
    loopIntervalMs: p.MYSQL_HA_LOOP_INTERVAL_MS,
    livenessTimeoutMs: p.MYSQL_HA_LIVENESS_TIMEOUT_MS,
    logLevel: p.MYSQL_HA_LOG_LEVEL,
    lease: p.MYSQL_HA_LEASE_BACKEND === 'etcd' ? { backend: 'etcd', endpoints: p.MYSQL_HA_ETCD_ENDPOINTS!.split(',') } : { backend: 'kubernetes' },
    clusterName: p.MYSQL_HA_CLUSTER_NAME ?? pod!.statefulSet,
    timings: {
      leaseTtlMs: p.MYSQL_HA_LEASE_TTL_MS,
      renewPeriodMs: p.MYSQL_HA_RENEW_PERIOD_MS,
      storeTimeoutMs: p.MYSQL_HA_STORE_TIMEOUT_MS,
      statusTimeoutMs: p.MYSQL_HA_STATUS_TIMEOUT_MS,
      fenceMarginMs,
      mysqldDownGraceMs: p.MYSQL_HA_MYSQLD_DOWN_GRACE_MS,
      mysqldGoneGraceMs: p.MYSQL_HA_MYSQLD_GONE_GRACE_MS,
      failoverWindowMs: p.MYSQL_HA_FAILOVER_WINDOW_MS,
      terminationTimeoutMs: p.MYSQL_HA_TERMINATION_TIMEOUT_MS,
      drainMs: p.MYSQL_HA_DRAIN_MS,
    },
    mysqldMayStopFile: p.MYSQL_HA_MYSQLD_MAY_STOP_FILE ?? null,
    lossless: p.MYSQL_HA_LOSSLESS === 'on' || (p.MYSQL_HA_LOSSLESS === 'auto' && peers.length >= 3),
    paused: p.MYSQL_HA_PAUSED === 'true',
    autoRebuild: p.MYSQL_HA_AUTO_REBUILD === 'true',
    switchoverToken,
    tls,
    tags: {
      nofailover: p.MYSQL_HA_NOFAILOVER === 'true',
      failoverPriority: p.MYSQL_HA_FAILOVER_PRIORITY,
      noloadbalance: p.MYSQL_HA_NOLOADBALANCE === 'true',
    },
  };
}
