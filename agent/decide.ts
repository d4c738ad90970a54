import type { Decision, MysqlUp, Observation, Topology } from './state.ts';

export interface DecideContext {
  topology: Topology;
  /** The dialect's GTID difference: what `set` has that `other` lacks. */
  subtractGtids(set: string, other: string): string;
}

const decision = (state: Decision['state'], action: Decision['action'], reason: string): Decision => ({ state, action, reason });
const none = { kind: 'none' } as const;

/**
 * The pure heart of the agent: one observation in, one decision out. No I/O, no clock;
 * every branch is a named state with a reason a human can act on.
 */
export function decide(observation: Observation, context: DecideContext): Decision {
  const { mysql } = observation;
  if (!mysql.up) return decision('mysqld-down', none, `waiting for the local mysqld: ${mysql.error}`);
  const { self, primary } = context.topology;
  if (self.name === primary.name) return decidePrimary(mysql, self.name);
  return decideReplica(observation, mysql, context);
}

function followsPrimary(mysql: MysqlUp, topology: Topology): boolean {
  const replica = mysql.replica;
  return replica !== null && replica.sourceHost === topology.primary.host && replica.sourcePort === topology.mysqlPort;
}

/** A replica that has yet to pick its source needs the primary's /binlog-position first. */
export function needsPrimaryPosition(mysql: Observation['mysql'], topology: Topology): boolean {
  return mysql.up && topology.self.name !== topology.primary.name && !followsPrimary(mysql, topology);
}

function decidePrimary(mysql: MysqlUp, name: string): Decision {
  if (mysql.variables.readOnly) {
    return decision('primary-read-only', { kind: 'setup-primary' }, `${name} is the primary but read-only: creating accounts and lifting read-only`);
  }
  return decision('primary-serving', none, `${name} is the primary and writable`);
}

function decideReplica(observation: Observation, mysql: MysqlUp, context: DecideContext): Decision {
  const { primary } = context.topology;
  const replica = mysql.replica;
  if (!mysql.variables.readOnly) {
    return decision('replica-writable', { kind: 'fence' }, `replica of ${primary.name} is writable: turning read-only on`);
  }
  if (replica === null || !followsPrimary(mysql, context.topology)) {
    const state = replica === null ? 'replica-unconfigured' : 'replica-wrong-source';
    const why = replica === null ? 'no replication configured' : `replicating from ${replica.sourceHost}:${replica.sourcePort}, not ${primary.name}`;
    const probe = observation.primaryPosition;
    if (probe.state !== 'ready') {
      const detail = probe.state === 'waiting' ? `attempt ${probe.attempts}: ${probe.lastError}` : 'not asked yet';
      return decision('replica-waiting-for-primary', none, `${why}; waiting for ${primary.name}'s /binlog-position (${detail})`);
    }
    const errant = context.subtractGtids(mysql.variables.gtidExecuted, probe.position.gtidExecuted);
    if (errant !== '') {
      return decision(
        'replica-errant',
        none,
        `refusing to follow ${primary.name}: this node has transactions the primary never had (errant GTIDs ${errant}); ` +
          'rebuild this replica from the primary (delete its data volume) or apply those transactions on the primary',
      );
    }
    return decision(state, { kind: 'configure-replication', source: primary }, `${why}: following ${primary.name} with GTID auto-positioning`);
  }
  if (!replica.sqlRunning && replica.lastSqlError !== '') {
    return decision(
      'replica-sql-error',
      none,
      `replication from ${primary.name} stopped on an error (never skipped): ${replica.lastSqlError}; ` +
        'repair the data on this replica, then run START REPLICA',
    );
  }
  if (!replica.sqlRunning) {
    return decision('replica-stopped', { kind: 'start-replication' }, `replication from ${primary.name} is configured but stopped: starting it`);
  }
  if (replica.ioState === 'No') {
    const error = replica.lastIoError === '' ? '' : ` (last error: ${replica.lastIoError})`;
    return decision('replica-io-stopped', { kind: 'start-io-thread' }, `IO thread from ${primary.name} stopped${error}: restarting it`);
  }
  if (!replica.ioRunning) {
    const error = replica.lastIoError === '' ? '' : `: ${replica.lastIoError}`;
    return decision('replica-connecting', none, `connecting to ${primary.name}${error}`);
  }
  return decision('replica-streaming', none, `following ${primary.name}: IO and SQL threads running, lag ${replica.lagSeconds ?? '?'} s`);
}
