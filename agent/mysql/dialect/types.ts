import type { BinlogPosition, ReplicaStatus, ServerVariables } from '../../loop/state.ts';

export type Flavor = 'mysql' | 'mariadb';

/** What `stage` needs to write a node's config. */
export interface NodeIdentity {
  serverId: number;
  reportHost: string;
  initFile: string;
}

export interface Statement {
  sql: string;
  values?: unknown[];
}

export interface ReplicationSource {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The CA that signed the source's certificate, verified with `host` as its name; null: no certificates configured. */
  caFile: string | null;
}

/**
 * Everything that differs between MySQL and MariaDB, chosen once per process.
 * Pure: builds SQL and reads result rows; the MySQL adapter runs them.
 */
export interface Dialect {
  flavor: Flavor;
  /** The [mysqld] lines this flavour needs; the rest of the cnf is shared. */
  cnfLines(node: NodeIdentity): string[];
  /** Least-privilege grants for the agent's own account. */
  agentGrants(account: string, appDatabase: string): string[];
  variablesQuery: string;
  parseVariables(row: Record<string, unknown>): ServerVariables;
  replicaStatusQuery: string;
  parseReplicaStatus(row: Record<string, unknown> | undefined): ReplicaStatus | null;
  /**
   * Where the real applier error is when Last_SQL_Error only says a worker failed
   * (MySQL's multi-threaded applier), or null when Last_SQL_Error already says it.
   */
  applierErrorQuery: string | null;
  binlogStatusQuery: string;
  parseBinlogStatus(row: Record<string, unknown> | undefined): BinlogPosition | null;
  setReadOnly(on: boolean): string[];
  /** Lossless mode on the primary: commits wait (without time limit) for replicas' acknowledgements. */
  setSemiSyncSource(on: boolean): string;
  /** The most acknowledgements a commit can wait for (MariaDB: one). */
  maxSemiSyncAcks: number;
  /** Makes commits wait for `count` acknowledgements; nothing where the flavour waits for one only. */
  setSemiSyncAcks(count: number): string[];
  /** A query answering `{ applied: 1 }` once `gtids` are executed, `{ applied: 0 }` after `timeoutSeconds`. */
  waitForGtids(gtids: string, timeoutSeconds: number): Statement;
  /** How many transactions the sets hold together: ranks failover candidates. */
  countGtids(...sets: string[]): number;
  changeSource(source: ReplicationSource): Statement;
  /** Makes mysqld present the certificate files as they are now (renewed by cert-manager, say) to new connections. */
  reloadTls: string;
  /**
   * Run while replication is stopped, just before it starts: makes the position the replica
   * asks its source from cover everything this server has already executed.
   */
  alignReplicaPosition: string[];
  /** GTIDs in `set` that `other` lacks ('' when none). */
  subtractGtids(set: string, other: string): string;
  /**
   * Whether one member of a `subtractGtids` result was written by the server whose
   * `ServerVariables.serverUuid` is `serverUuid`.
   */
  originatesFrom(member: string, serverUuid: string): boolean;
  /**
   * Replaces this node's data with a copy of the donor's (MySQL's clone plugin), or null
   * when the flavour cannot. mysqld restarts itself afterwards (its supervisor starts it again).
   */
  cloneFrom: ((donor: ReplicationSource) => Statement[]) | null;
  /**
   * How far a running clone has come, asked on a second session while cloneFrom's statements run:
   * one row per step (columns step, state, bytes, estimatedBytes), in order. Null without clone.
   */
  cloneProgressQuery: string | null;
  /**
   * Where a copy is streamed instead (MariaDB's mariadb-backup): run on the restarted server, they
   * make it know what the copy executed, from the donor's binary log state when its backup began
   * and the backup's own position. Null where the flavour clones.
   */
  adoptCopiedGtids: ((donorState: string, position: string) => Statement[]) | null;
  /** Accounts that can write although the node is read-only, but the agent's and the administrator's (its two values), or null when the flavour has no such bypass. */
  readOnlyBypassQuery: string | null;
}
