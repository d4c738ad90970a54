// Plain-data builders for decision and HTTP tests: an observation is just data.
import type { ReplicaStatus, ServerVariables } from '../../agent/dialect/types.ts';
import type { MysqlUp, Observation, PrimaryPositionProbe, Topology } from '../../agent/state.ts';

export const PRIMARY = { name: 'mysql-ha-0', host: '127.0.10.1' };
export const REPLICA = { name: 'mysql-ha-1', host: '127.0.10.2' };
export const OTHER = { name: 'mysql-ha-2', host: '127.0.10.3' };
export const UUID0 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
export const UUID1 = 'a5c2e2a0-71ca-11e1-9e33-c80aa9429562';

export const asPrimary: Topology = { self: PRIMARY, primary: PRIMARY, mysqlPort: 3306 };
export const asReplica: Topology = { self: REPLICA, primary: PRIMARY, mysqlPort: 3306 };

export function variables(overrides: Partial<ServerVariables> = {}): ServerVariables {
  return { serverId: 101, serverUuid: UUID1, readOnly: true, gtidExecuted: `${UUID0}:1-10`, ...overrides };
}

export function streaming(overrides: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    sourceHost: PRIMARY.host,
    sourcePort: 3306,
    ioRunning: true,
    ioState: 'Yes',
    sqlRunning: true,
    lagSeconds: 0,
    lastIoError: '',
    lastSqlError: '',
    autoPosition: true,
    ...overrides,
  };
}

export function up(overrides: Partial<Omit<MysqlUp, 'up'>> = {}): MysqlUp {
  return { up: true, variables: variables(), replica: null, binlog: { file: 'mysql-bin.000001', position: 157 }, readOnlyBypass: [], ...overrides };
}

export function observed(mysql: Observation['mysql'], primaryPosition: PrimaryPositionProbe = { state: 'not-needed' }): Observation {
  return { at: 1_700_000_000_000, mysql, primaryPosition };
}

export const primaryReady = (gtidExecuted = `${UUID0}:1-10`): PrimaryPositionProbe => ({
  state: 'ready',
  position: { file: 'mysql-bin.000001', position: 157, gtidExecuted, serverUuid: UUID0 },
});
