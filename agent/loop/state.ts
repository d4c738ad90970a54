// The plain data the loop passes around: what was observed, and what was decided.
// Everything here is serialisable, so decisions can be table-tested and shown in /status.
import type { Peer } from '../config.ts';

export interface ServerVariables {
  serverId: number;
  serverUuid: string;
  /** Fenced against every client write: super_read_only (MySQL) or read_only (MariaDB). */
  readOnly: boolean;
  /** Executed GTIDs in the flavour's own notation (used for errant-transaction checks). */
  gtidExecuted: string;
  /** GTIDs no longer in its binary logs (MySQL gtid_purged): a replica lacking any cannot catch up from it. '' on MariaDB. */
  gtidPurged: string;
  /** Semi-synchronous replication enabled as a source (commits wait for replicas' acknowledgements). */
  semiSyncSource: boolean;
  /** How many acknowledgements a semi-synchronous commit waits for (MySQL rpl_semi_sync_source_wait_for_replica_count; MariaDB 1). */
  semiSyncAcks: number;
  /** Client sessions whose commit waits for a replica's acknowledgement now (null: the server does not say). */
  semiSyncWaiting: number | null;
}

export interface ReplicaStatus {
  sourceHost: string;
  sourcePort: number;
  ioRunning: boolean;
  /** Raw IO thread state: Yes, No or Connecting. */
  ioState: string;
  sqlRunning: boolean;
  lagSeconds: number | null;
  lastIoError: string;
  lastSqlError: string;
  /** The IO thread stopped because the source no longer has binary logs this replica needs. */
  sourcePurgedBinlogs: boolean;
  autoPosition: boolean;
  /** GTIDs received into the relay log (MySQL Retrieved_Gtid_Set, MariaDB Gtid_IO_Pos). */
  retrievedGtids: string;
}

export interface BinlogPosition {
  file: string;
  position: number;
}

export interface MysqlDown {
  up: false;
  error: string;
  /**
   * Nothing listens on mysqld's port (connection refused): the process is not running, not
   * merely slow or out of connections. A primary's agent then lets the lease go at once.
   */
  gone?: boolean;
  /**
   * It answered that it is writable, then stopped answering within the time allowed: a hung
   * server (commits of a primary cut off from every replica wait for an acknowledgement and
   * hold up status statements), not a stopped one. It may still take writes, so it is fenced.
   */
  answeredWritable?: boolean;
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
  gtidPurged: string;
  serverUuid: string;
}

/** A replica's view of its primary's /binlog-position while it needs one. */
export type PrimaryPositionProbe =
  | { state: 'not-needed' }
  | { state: 'waiting'; attempts: number; lastError: string }
  | { state: 'ready'; position: PrimaryPosition };

/**
 * A streaming replica's look at its primary's executed GTIDs, taken on every observation after
 * its own: whatever it received from the primary is in them, so anything else is errant.
 */
export type PrimaryGtidsProbe = { state: 'not-needed' } | { state: 'unknown'; reason: string } | { state: 'known'; gtidExecuted: string; serverUuid: string };

/** The leader lease record, as every lease store keeps it (agent/coordination/lease.ts). */
export interface LeaseRecord {
  holder: string;
  /** Increments each time the lease changes hands: a fencing token. */
  term: number;
  ttlMs: number;
  /** Epoch ms of the last acquire or renew, as written by the holder (informative only). */
  renewedAt: number;
  /** Opaque compare-and-set version. */
  version: string;
  /** This holder got the lease straight from the previous one (a planned hand-over), not by an election. */
  handedOver: boolean;
}

/** The leader lease as this agent sees it this tick. */
export type LeaseView =
  | { state: 'unknown'; error: string }
  /**
   * Nobody holds it: never taken, released, or expired (`record` is the expired one, for
   * compare-and-set). `lastHolder`: who held it last, as far as this agent saw. `freeSince`:
   * when this agent first saw it free this time (its clock), so an observation whose `at` is later
   * looked at mysqld after the lease was free.
   */
  | { state: 'free'; record: LeaseRecord | null; lastHolder: string | null; bootstrapped: boolean; freeSince: number }
  /**
   * `expiresAt`: when this agent will judge it expired unless it sees it renewed first (its
   * clock: when it first saw this version, plus the TTL), so a candidate can look at that moment.
   */
  | { state: 'held'; record: LeaseRecord; mine: boolean; expiresAt: number };

/** What a peer's agent says about its node, as far as an election needs it. */
export interface PeerStatus {
  name: string;
  /** Why its agent could not be asked, or null when it answered. */
  unreachable: string | null;
  mysqldUp: boolean;
  gtidExecuted: string;
  retrievedGtids: string;
  /** It refused to follow its primary because it holds transactions the primary never had. */
  errant: boolean;
  /** Why its agent cannot reach the lease store (so it cannot take the lease), or null. */
  storeUnreachable: string | null;
  /**
   * Its last observation looked at its mysqld after its agent saw the lease free: the GTIDs it
   * reports include whatever it received from a primary that was gone by then.
   */
  viewedSinceLeaseFree: boolean;
  /** Its pod is being deleted: it hands over or leaves, and takes no lease. */
  terminating: boolean;
  /** Its pod template's revision (controller-revision-hash), or null when not known. */
  revision: string | null;
  /** Its tags (the defaults for an agent of an older version, which does not say). */
  tags: Tags;
}

/**
 * A change of lease holder as this agent saw it: 'hand-over' when the new holder got it straight
 * from the previous one, 'failover' when by an election, 'first-seen' for the holder this agent
 * found when it started.
 */
export interface LeaseChange {
  holder: string;
  /** When this agent first saw `holder` hold the lease (epoch ms). */
  at: number;
  how: 'first-seen' | 'hand-over' | 'failover';
}

/**
 * Failsafe while the lease store is unreachable (agent/loop/failsafe.ts): the primary asked
 * every peer to confirm that it follows it and cannot reach the store either.
 */
export type FailsafeView =
  | { state: 'not-needed' }
  /** Every peer confirmed (and promised not to take the lease meanwhile): the lease was extended. */
  | { state: 'confirmed'; peers: string[] }
  | { state: 'refused'; why: string };

export interface Observation {
  /** Epoch milliseconds. */
  at: number;
  mysql: MysqlObservation;
  primaryPosition: PrimaryPositionProbe;
  primaryGtids: PrimaryGtidsProbe;
  lease: LeaseView;
  /** Until when this node may be writable: its last successful acquire or renew + TTL − fencing margin. */
  heldUntil: number | null;
  /** Since when the local mysqld has been unreachable (epoch ms). */
  mysqldDownSince: number | null;
  failsafe: FailsafeView;
  /** Peers' statuses, asked only while the lease is free (an election needs them). */
  peers: PeerStatus[];
  /** The last few changes of lease holder this agent saw, oldest first (for anti-flapping). */
  leaseChanges: LeaseChange[];
  /** This node holds errant transactions (refused its primary, or is copying another node over them; from its last decision). */
  selfErrant: boolean;
  /** The requests this tick read. */
  controls: Controls;
  /** Where the Secret's passwords differ from what this agent last used (or it has used none yet). */
  passwordsChanged: PasswordsChanged;
}

export interface PasswordsChanged {
  /** The replication or application password, from what this node last set on their accounts as primary. */
  accounts: boolean;
  /** The replication password, from what this node's replication channel was last configured with. */
  replication: boolean;
}

/** A planned switchover asked of this node: hand the lease to `candidate` (null: the most advanced replica). */
export interface SwitchoverRequest {
  candidate: string | null;
}

/** Replace this node's data with a copy of a donor's (null: the agent picks one, a replica if it can). */
export interface ReinitRequest {
  donor: string | null;
}

/** Restart this node's mysqld (a replica's; a primary is switched over first). */
export type RestartRequest = Record<string, never>;

/** Take the free lease by hand (automatic failover paused or impossible); `force`: even if peers may have writes this node lacks. */
export interface FailoverRequest {
  force: boolean;
}

/** Requests from operators, read by the loop once per tick. */
export interface Controls {
  /** Maintenance: no automatic failover. */
  paused: boolean;
  switchover: SwitchoverRequest | null;
  reinit: ReinitRequest | null;
  restart: RestartRequest | null;
  failover: FailoverRequest | null;
  /** Since when the pod is being deleted (SIGTERM; epoch ms on the agent's clock): hand the lease over if this node holds it, then stop. */
  terminatingSince: number | null;
  /** This node promised `primary` (failsafe) not to take the lease before `until` (epoch ms). */
  failsafePromise: { primary: string; until: number } | null;
}

/** What a pod may become and serve, as Patroni's tags say it: set per pod (in Kubernetes from its annotations). */
export interface Tags {
  /** Never promoted, never a switchover target. */
  nofailover: boolean;
  /** Among equally advanced candidates the highest wins; 0: never promoted. */
  failoverPriority: number;
  /** Healthy, but no reads routed to it: /replica and /read-only answer 503 (a reporting or backup replica). */
  noloadbalance: boolean;
}

export const DEFAULT_TAGS: Tags = { nofailover: false, failoverPriority: 1, noloadbalance: false };

/** Why a pod's tags keep it from ever taking the lease, or null when they do not. */
export function neverPromotedBecause(tags: Tags): string | null {
  if (tags.nofailover) return 'it is tagged nofailover';
  return tags.failoverPriority === 0 ? 'its failover priority is 0' : null;
}

export interface Topology {
  self: Peer;
  /** This pod's tags. */
  tags: Tags;
  /** This pod's template revision (controller-revision-hash), or null when not known. */
  revision: string | null;
  peers: Peer[];
  /** The pod that takes the very first lease of a new cluster (and only that one). */
  bootstrapPrimary: string;
  mysqlPort: number;
}

/** The named states a node can be in; each maps to at most one action. */
export type NodeState =
  | 'mysqld-down'
  | 'lease-unknown'
  | 'fencing'
  | 'electing'
  | 'waiting-for-election'
  | 'waiting-for-peer-views'
  | 'primary-catching-up'
  | 'primary-promoting'
  | 'primary-read-only'
  | 'primary-serving'
  | 'primary-handing-over'
  | 'primary-releasing'
  | 'primary-stepping-down'
  | 'stopping'
  | 'replica-writable'
  | 'replica-demoting'
  | 'replica-unconfigured'
  | 'replica-wrong-source'
  | 'replica-waiting-for-primary'
  | 'replica-errant'
  | 'replica-rebuilding'
  | 'replica-restarting'
  | 'replica-beyond-binlogs'
  | 'replica-stopped'
  | 'replica-io-stopped'
  | 'replica-sql-error'
  | 'replica-connecting'
  | 'replica-streaming';

export type Action =
  | { kind: 'none' }
  /** `reason`: why this node takes the lease, kept in the lease history (the decision's reason). */
  | { kind: 'acquire-lease'; expectedVersion: string | null; reason: string }
  | { kind: 'release-lease' }
  /** Ask every peer's agent to look again now (POST /nudge). */
  | { kind: 'nudge-peers' }
  /** Stop writes, then give the lease up (a terminating primary that no replica can take over from). */
  | { kind: 'step-down' }
  | { kind: 'fence' }
  | { kind: 'catch-up' }
  /** Reset replication, then set up as the primary (as setup-primary). */
  | { kind: 'promote'; semiSyncAcks: number }
  /** Accounts and database, read-only lifted, semi-sync on with commits waiting for `semiSyncAcks` acknowledgements. */
  | { kind: 'setup-primary'; semiSyncAcks: number }
  /** The number of pods changed: commits wait for `count` acknowledgements from now on. */
  | { kind: 'set-semi-sync-acks'; count: number }
  /** Set the Secret's replication and application passwords on their accounts (the primary; binlogged, so replicas get them). */
  | { kind: 'rotate-passwords' }
  | { kind: 'configure-replication'; source: Peer }
  | { kind: 'rebuild'; donor: Peer }
  /** Stop mysqld and have its supervisor start it again (a restart asked for). */
  | { kind: 'restart-mysqld' }
  | { kind: 'start-replication' }
  | { kind: 'start-io-thread' }
  /** Planned switchover: stop writes, wait until `candidate` has applied everything (at most `timeoutMs`), give it the lease. */
  | { kind: 'hand-over'; candidate: Peer; timeoutMs: number };

export interface Decision {
  state: NodeState;
  action: Action;
  /** For humans and /status, e.g. "following mysql-ha-0: IO and SQL threads running, lag 0 s". */
  reason: string;
  /** A switchover request this tick refused, and why (the request is answered with it). */
  switchoverRefused?: string;
  /** A reinit request this tick refused, and why. */
  reinitRefused?: string;
  /** A restart request this tick refused, and why. */
  restartRefused?: string;
  /** A manual failover request this tick refused, and why. */
  failoverRefused?: string;
}
