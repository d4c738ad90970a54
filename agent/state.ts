// The plain data the loop passes around: what was observed, and what was decided.
// Everything here is serialisable, so decisions can be table-tested and shown in /status.
import type { Peer } from './config.ts';
import type { BinlogPosition, ReplicaStatus, ServerVariables } from './dialect/types.ts';

export interface MysqlDown {
  up: false;
  error: string;
}

export interface MysqlUp {
  up: true;
  variables: ServerVariables;
  replica: ReplicaStatus | null;
  binlog: BinlogPosition | null;
  /** Accounts that can write through read-only (MariaDB READ_ONLY ADMIN), apart from the agent's own. */
  readOnlyBypass: string[];
}

export type MysqlObservation = MysqlDown | MysqlUp;

/** What a ready primary's agent answers on GET /binlog-position. */
export interface PrimaryPosition {
  file: string;
  position: number;
  gtidExecuted: string;
  serverUuid: string;
}

/** A replica's view of its primary's /binlog-position while it needs one. */
export type PrimaryPositionProbe =
  | { state: 'not-needed' }
  | { state: 'waiting'; attempts: number; lastError: string }
  | { state: 'ready'; position: PrimaryPosition };

export interface Observation {
  /** Epoch milliseconds. */
  at: number;
  mysql: MysqlObservation;
  primaryPosition: PrimaryPositionProbe;
}

export interface Topology {
  self: Peer;
  /** The pod that is primary. Until leader election lands this is the bootstrap primary. */
  primary: Peer;
  mysqlPort: number;
}

/** The named states a node can be in; each maps to at most one action. */
export type NodeState =
  | 'mysqld-down'
  | 'primary-read-only'
  | 'primary-serving'
  | 'replica-writable'
  | 'replica-unconfigured'
  | 'replica-wrong-source'
  | 'replica-waiting-for-primary'
  | 'replica-errant'
  | 'replica-stopped'
  | 'replica-io-stopped'
  | 'replica-sql-error'
  | 'replica-connecting'
  | 'replica-streaming';

export type Action =
  | { kind: 'none' }
  | { kind: 'setup-primary' }
  | { kind: 'fence' }
  | { kind: 'configure-replication'; source: Peer }
  | { kind: 'start-replication' }
  | { kind: 'start-io-thread' };

export interface Decision {
  state: NodeState;
  action: Action;
  /** For humans and /status, e.g. "following mysql-ha-0: IO and SQL threads running, lag 0 s". */
  reason: string;
}
