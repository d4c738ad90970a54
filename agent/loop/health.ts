import { ERRANT_STATES, primaryOf } from './decide.ts';
import type { AgentSnapshot } from './snapshot.ts';
import type { Action, Observation, Topology } from './state.ts';

export interface Check {
  ok: boolean;
  reason: string;
  /**
   * Failing on purpose, for a planned stop (a restart asked for, the pod terminating): HTTP 404,
   * which HAProxy's `http-check disable-on-404` turns into a drain (no new connections, running
   * ones finish) instead of marking the server down and cutting its sessions.
   */
  drain?: true;
}

export type Role = 'primary' | 'replica' | 'unknown';

/** What a check needs besides the observation. */
export interface CheckContext {
  topology: Topology;
  lossless: boolean;
  /** The time of the request: the lease is judged now, not at the last observation. */
  now: number;
  /** A write-stopping action started since the last observation, which still shows this node writable. */
  writesStoppedBy: Action['kind'] | null;
  /** The pod is being deleted: every check fails, so HAProxy and the Service drain it before mysqld stops. */
  terminating: boolean;
  /** The last decision found transactions here that the primary never had: no reads, whatever the threads say. */
  errant: boolean;
  /** A restart of mysqld was asked for and is under way: no reads routed here from the moment it was decided. */
  restarting: boolean;
  /** Tagged noloadbalance: a healthy replica that the read checks keep out of the load balancer. */
  noloadbalance: boolean;
}

/** The context of a check made now, from the loop's latest snapshot. */
export function checkContext(
  snapshot: Pick<AgentSnapshot, 'topology' | 'config' | 'writesStoppedBy' | 'decision'>,
  now: number,
  terminating: boolean,
): CheckContext {
  const { topology, config, writesStoppedBy, decision } = snapshot;
  return {
    topology,
    lossless: config.lossless,
    now,
    writesStoppedBy,
    terminating,
    errant: ERRANT_STATES.has(decision?.state ?? ''),
    restarting: decision?.state === 'replica-restarting',
    noloadbalance: topology.tags.noloadbalance,
  };
}

/**
 * Actions after which this node takes no more writes. /primary fails as soon as one starts,
 * and until an observation shows the result, so HAProxy's next check moves writes away instead
 * of a later one (a hand-over waits for its candidate to catch up, and every write sent here
 * meanwhile fails on read-only).
 */
const writesStoppingActions: ReadonlySet<Action['kind']> = new Set(['hand-over', 'step-down', 'fence', 'release-lease']);

export const stopsWrites = (kind: Action['kind']): boolean => writesStoppingActions.has(kind);

const TERMINATING = 'pod terminating: draining connections before mysqld stops';

const pass = (reason: string): Check => ({ ok: true, reason });
const fail = (reason: string): Check => ({ ok: false, reason });
const drain = (reason: string): Check => ({ ok: false, reason, drain: true });

/** A check of the latest observation, or why there is none yet. */
export function judge(snapshot: Pick<AgentSnapshot, 'observation' | 'waitingFor'>, check: (observation: Observation) => Check): Check {
  return snapshot.observation ? check(snapshot.observation) : fail(snapshot.waitingFor ?? 'no observation yet');
}

/**
 * GET /liveness: the loop is not stuck. An action under way counts as progress however long
 * it runs (a clone of a large data set takes hours, and each action has its own time limit),
 * so the kubelet never restarts an agent in the middle of one.
 */
export function livenessCheck(snapshot: Pick<AgentSnapshot, 'heartbeatAt' | 'runningAction' | 'config'>, now: number): Check {
  const limit = snapshot.config.livenessTimeoutMs;
  if (snapshot.runningAction !== null) {
    const { kind, since } = snapshot.runningAction;
    return pass(`action ${kind} under way for ${Math.round(now - since)} ms (the loop goes on when it ends; limit between actions ${limit} ms)`);
  }
  const silentMs = Math.round(now - snapshot.heartbeatAt);
  const reason = `last loop progress ${silentMs} ms ago (limit ${limit} ms)`;
  return silentMs <= limit ? pass(reason) : fail(reason);
}

export function roleOf(observation: Observation | null): Role {
  if (!observation?.mysql.up) return 'unknown';
  const { lease } = observation;
  return lease.state === 'held' && lease.mine ? 'primary' : 'replica';
}

/** GET /primary: this node takes writes, under a lease that has not run out. */
export function primaryCheck(observation: Observation, context: CheckContext): Check {
  const { mysql, lease, heldUntil } = observation;
  if (context.terminating) return fail(TERMINATING);
  if (!mysql.up) return fail(`mysqld unreachable: ${mysql.error}`);
  if (context.writesStoppedBy !== null) return fail(`writes stopping here: ${context.writesStoppedBy} started`);
  if (lease.state === 'held' && !lease.mine) return fail(`not the primary (${lease.record.holder} holds the lease)`);
  if (heldUntil === null || context.now >= heldUntil) return fail('this node does not hold the lease');
  if (mysql.variables.readOnly) return fail('primary is still read-only (setting up)');
  if (mysql.replica !== null) return fail('primary is still promoting (replication not reset yet)');
  if (context.lossless && !mysql.variables.semiSyncSource) return fail('primary has semi-sync off (setting up lossless mode)');
  return pass('writable primary');
}

/** GET /replica: this node is a replica that serves reads within `maxLagSeconds`, unless tagged noloadbalance. */
export function replicaCheck(observation: Observation, context: CheckContext, maxLagSeconds: number): Check {
  const health = replicaHealth(observation, context, maxLagSeconds);
  return health.ok && context.noloadbalance ? fail(`${health.reason}; tagged noloadbalance: no reads routed here`) : health;
}

/** A replica streaming from the primary within `maxLagSeconds`, fenced, with nothing the primary lacks. */
function replicaHealth(observation: Observation, context: CheckContext, maxLagSeconds: number): Check {
  const { mysql } = observation;
  if (context.terminating) return drain(TERMINATING);
  if (context.restarting) return drain('mysqld restarting (asked for): draining reads first');
  if (!mysql.up) return fail(`mysqld unreachable: ${mysql.error}`);
  if (roleOf(observation) === 'primary') return fail('this node is the primary');
  if (context.errant) return fail('errant transactions: this node has transactions its primary never had (GTIDs and the fix in /status)');
  if (!mysql.variables.readOnly) return fail('replica is writable (not fenced)');
  const primary = primaryOf(observation, context.topology);
  const replica = mysql.replica;
  if (!replica) return fail('replication is not configured');
  if (primary && replica.sourceHost !== primary.host) return fail(`replicating from ${replica.sourceHost}, not from the primary ${primary.name}`);
  if (!replica.ioRunning) return fail(`IO thread not running (${replica.ioState})${replica.lastIoError ? `: ${replica.lastIoError}` : ''}`);
  if (!replica.sqlRunning) return fail(`SQL thread not running${replica.lastSqlError ? `: ${replica.lastSqlError}` : ''}`);
  if (replica.lagSeconds === null) return fail('lag unknown');
  if (replica.lagSeconds > maxLagSeconds) return fail(`lag ${replica.lagSeconds} s exceeds ${maxLagSeconds} s`);
  return pass(`replica streaming, lag ${replica.lagSeconds} s`);
}

/** GET /read-only: any node that can serve reads within `maxLagSeconds` (the primary included). */
export function readOnlyCheck(observation: Observation, context: CheckContext, maxLagSeconds: number): Check {
  return roleOf(observation) === 'primary' ? primaryCheck(observation, context) : replicaCheck(observation, context, maxLagSeconds);
}

/** GET /health: this node serves its own role (a replica tagged noloadbalance too: it just gets no reads). */
export function healthCheck(observation: Observation, context: CheckContext, maxLagSeconds: number): Check {
  return roleOf(observation) === 'primary' ? primaryCheck(observation, context) : replicaHealth(observation, context, maxLagSeconds);
}
