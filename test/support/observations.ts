// Plain-data builders for decision and HTTP tests: an observation is just data.
import type { LeaseRecord } from '../../agent/coordination/lease.ts';
import {
  DEFAULT_TAGS,
  type LeaseView,
  type MysqlUp,
  type Observation,
  type PeerStatus,
  type ReplicaStatus,
  type ServerVariables,
  type Topology,
} from '../../agent/loop/state.ts';

export const PRIMARY = { name: 'mysql-ha-0', host: '127.0.10.1' };
export const REPLICA = { name: 'mysql-ha-1', host: '127.0.10.2' };
export const OTHER = { name: 'mysql-ha-2', host: '127.0.10.3' };
export const UUID0 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
export const UUID1 = 'a5c2e2a0-71ca-11e1-9e33-c80aa9429562';
/** A server of no pod: a transaction written by hand somewhere. */
export const FOREIGN = 'c0ffee00-71ca-11e1-9e33-c80aa9429562';
export const NOW = 1_700_000_000_000;

const peers = [PRIMARY, REPLICA, OTHER];
export const asPrimary: Topology = { self: PRIMARY, tags: DEFAULT_TAGS, peers, bootstrapPrimary: PRIMARY.name, mysqlPort: 3306, revision: null };
export const asReplica: Topology = { self: REPLICA, tags: DEFAULT_TAGS, peers, bootstrapPrimary: PRIMARY.name, mysqlPort: 3306, revision: null };

export function record(holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return { holder, term: 1, ttlMs: 5000, renewedAt: NOW - 500, version: '7', handedOver: false, ...overrides };
}

/** The lease held by `holder`, seen from `self`. */
export const heldBy = (holder: string, self: string, expiresAt = Number.MAX_SAFE_INTEGER): LeaseView => ({
  state: 'held',
  record: record(holder),
  mine: holder === self,
  expiresAt,
});
/** Free since a second before NOW: this node's observation at NOW looked at mysqld after it saw the lease free. */
export const free = (lastHolder: string | null = PRIMARY.name, bootstrapped = true, freeSince = NOW - 1000): LeaseView => ({
  state: 'free',
  record: null,
  lastHolder,
  bootstrapped,
  freeSince,
});

export function variables(overrides: Partial<ServerVariables> = {}): ServerVariables {
  return {
    serverId: 101,
    serverUuid: UUID1,
    readOnly: true,
    gtidExecuted: `${UUID0}:1-10`,
    gtidPurged: '',
    semiSyncSource: false,
    semiSyncAcks: 1,
    semiSyncWaiting: 0,
    ...overrides,
  };
}

export function streaming(overrides: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    sourceHost: PRIMARY.host,
    sourcePort: 3306,
    ioRunning: true,
    sourcePurgedBinlogs: false,
    ioState: 'Yes',
    sqlRunning: true,
    lagSeconds: 0,
    lastIoError: '',
    lastSqlError: '',
    autoPosition: true,
    retrievedGtids: `${UUID0}:1-10`,
    ...overrides,
  };
}

export function up(overrides: Partial<Omit<MysqlUp, 'up'>> = {}): MysqlUp {
  return { up: true, variables: variables(), replica: null, binlog: { file: 'mysql-bin.000001', position: 157 }, readOnlyBypass: [], ...overrides };
}

export function peer(name: string, overrides: Partial<PeerStatus> = {}): PeerStatus {
  return {
    name,
    unreachable: null,
    mysqldUp: true,
    gtidExecuted: `${UUID0}:1-10`,
    retrievedGtids: `${UUID0}:1-10`,
    errant: false,
    storeUnreachable: null,
    viewedSinceLeaseFree: true,
    terminating: false,
    revision: null,
    tags: DEFAULT_TAGS,
    ...overrides,
  };
}

/** A replica's observation while mysql-ha-0 holds the lease; override anything. */
export function observed(mysql: Observation['mysql'], overrides: Partial<Observation> = {}): Observation {
  return {
    at: NOW,
    mysql,
    primaryPosition: { state: 'not-needed' },
    primaryGtids: { state: 'not-needed' },
    lease: heldBy(PRIMARY.name, REPLICA.name),
    heldUntil: null,
    mysqldDownSince: null,
    failsafe: { state: 'not-needed' },
    peers: [],
    leaseChanges: [],
    selfErrant: false,
    passwordsChanged: { accounts: false, replication: false },
    controls: { paused: false, switchover: null, reinit: null, restart: null, failover: null, terminatingSince: null, failsafePromise: null },
    ...overrides,
  };
}

/** The primary's observation: it holds the lease, renewed 0.5 s ago. */
export function observedAsPrimary(mysql: Observation['mysql'], overrides: Partial<Observation> = {}): Observation {
  return observed(mysql, { lease: heldBy(PRIMARY.name, PRIMARY.name), heldUntil: NOW + 3000, ...overrides });
}

export const primaryReady = (gtidExecuted = `${UUID0}:1-10`, gtidPurged = ''): Observation['primaryPosition'] => ({
  state: 'ready',
  position: { file: 'mysql-bin.000001', position: 157, gtidExecuted, gtidPurged, serverUuid: UUID0 },
});
