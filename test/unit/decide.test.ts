import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, needsPrimaryPosition } from '../../agent/decide.ts';
import { subtractMysqlGtids } from '../../agent/gtid.ts';
import type { Decision, Observation, Topology } from '../../agent/state.ts';
import { asPrimary, asReplica, observed, OTHER, primaryReady, streaming, up, UUID0, UUID1, variables } from '../support/observations.ts';

interface Row {
  name: string;
  topology: Topology;
  observation: Observation;
  state: Decision['state'];
  action: Decision['action']['kind'];
  reason: RegExp;
}

// Each row: a named cluster state as plain data, and the one decision it must give.
const table: Row[] = [
  { name: 'mysqld down', topology: asReplica, observation: observed({ up: false, error: 'connect ECONNREFUSED 127.0.10.2:3306' }), state: 'mysqld-down', action: 'none', reason: /ECONNREFUSED/ },
  { name: 'primary still read-only at boot', topology: asPrimary, observation: observed(up({ variables: variables({ readOnly: true }) })), state: 'primary-read-only', action: 'setup-primary', reason: /lifting read-only/ },
  { name: 'primary writable', topology: asPrimary, observation: observed(up({ variables: variables({ readOnly: false }) })), state: 'primary-serving', action: 'none', reason: /writable/ },
  { name: 'replica someone made writable', topology: asReplica, observation: observed(up({ variables: variables({ readOnly: false }), replica: streaming() })), state: 'replica-writable', action: 'fence', reason: /turning read-only on/ },
  { name: 'fresh replica, primary not answering yet', topology: asReplica, observation: observed(up(), { state: 'waiting', attempts: 3, lastError: 'answered 503: primary is still read-only' }), state: 'replica-waiting-for-primary', action: 'none', reason: /waiting for mysql-ha-0's \/binlog-position \(attempt 3: answered 503/ },
  { name: 'fresh replica, primary ready', topology: asReplica, observation: observed(up({ variables: variables({ gtidExecuted: '' }) }), primaryReady()), state: 'replica-unconfigured', action: 'configure-replication', reason: /following mysql-ha-0 with GTID auto-positioning/ },
  { name: 'replica following another host', topology: asReplica, observation: observed(up({ replica: streaming({ sourceHost: OTHER.host }) }), primaryReady()), state: 'replica-wrong-source', action: 'configure-replication', reason: /replicating from 127\.0\.10\.3:3306, not mysql-ha-0/ },
  { name: 'replica with errant transactions', topology: asReplica, observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), primaryReady()), state: 'replica-errant', action: 'none', reason: new RegExp(`errant GTIDs ${UUID1}:1-2`) },
  { name: 'replica behind the primary is not errant', topology: asReplica, observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-5` }) }), primaryReady()), state: 'replica-unconfigured', action: 'configure-replication', reason: /following/ },
  { name: 'SQL thread stopped on an error', topology: asReplica, observation: observed(up({ replica: streaming({ sqlRunning: false, lastSqlError: "Duplicate entry '7' for key 't.PRIMARY'" }) })), state: 'replica-sql-error', action: 'none', reason: /never skipped\): Duplicate entry '7'.*START REPLICA/ },
  { name: 'both threads stopped after a mysqld restart', topology: asReplica, observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', sqlRunning: false, lagSeconds: null }) })), state: 'replica-stopped', action: 'start-replication', reason: /configured but stopped/ },
  { name: 'IO thread gave up', topology: asReplica, observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', lastIoError: 'error reconnecting' }) })), state: 'replica-io-stopped', action: 'start-io-thread', reason: /last error: error reconnecting/ },
  { name: 'IO thread reconnecting (primary down or bad password)', topology: asReplica, observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'Connecting', lastIoError: "Access denied for user 'mysqlha_repl'" }) })), state: 'replica-connecting', action: 'none', reason: /connecting to mysql-ha-0: Access denied/ },
  { name: 'replica streaming', topology: asReplica, observation: observed(up({ replica: streaming({ lagSeconds: 2 }) })), state: 'replica-streaming', action: 'none', reason: /following mysql-ha-0: IO and SQL threads running, lag 2 s/ },
];

for (const row of table) {
  test(`decide: ${row.name}`, () => {
    const decision = decide(row.observation, { topology: row.topology, subtractGtids: subtractMysqlGtids });
    assert.equal(decision.state, row.state);
    assert.equal(decision.action.kind, row.action);
    assert.match(decision.reason, row.reason);
  });
}

test('decide: a replica configures itself to follow the primary it was told about', () => {
  const decision = decide(observed(up(), primaryReady()), { topology: asReplica, subtractGtids: subtractMysqlGtids });
  assert.deepEqual(decision.action, { kind: 'configure-replication', source: asReplica.primary });
});

test('needsPrimaryPosition: only a reachable replica without the right source asks', () => {
  assert.equal(needsPrimaryPosition(up(), asReplica), true);
  assert.equal(needsPrimaryPosition(up({ replica: streaming({ sourceHost: OTHER.host }) }), asReplica), true);
  assert.equal(needsPrimaryPosition(up({ replica: streaming() }), asReplica), false);
  assert.equal(needsPrimaryPosition(up(), asPrimary), false);
  assert.equal(needsPrimaryPosition({ up: false, error: 'down' }, asReplica), false);
});

test('decide never needs the clock or I/O: same input, same output', () => {
  const observation = observed(up({ replica: streaming() }));
  const context = { topology: asReplica, subtractGtids: subtractMysqlGtids };
  assert.deepEqual(decide(observation, context), decide(structuredClone(observation), context));
});
