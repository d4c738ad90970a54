import type { Observation, Topology } from './state.ts';

export interface Check {
  ok: boolean;
  reason: string;
}

export type Role = 'primary' | 'replica' | 'unknown';

const pass = (reason: string): Check => ({ ok: true, reason });
const fail = (reason: string): Check => ({ ok: false, reason });

export function roleOf(observation: Observation | null, topology: Topology): Role {
  if (!observation?.mysql.up) return 'unknown';
  return topology.self.name === topology.primary.name ? 'primary' : 'replica';
}

/** GET /primary: this node takes writes. */
export function primaryCheck(observation: Observation | null, topology: Topology): Check {
  if (!observation) return fail('no observation yet');
  const { mysql } = observation;
  if (!mysql.up) return fail(`mysqld unreachable: ${mysql.error}`);
  if (topology.self.name !== topology.primary.name) return fail(`not the primary (${topology.primary.name} is)`);
  if (mysql.variables.readOnly) return fail('primary is still read-only (setting up)');
  return pass('writable primary');
}

/** GET /replica: this node is a replica that serves reads within `maxLagSeconds`. */
export function replicaCheck(observation: Observation | null, topology: Topology, maxLagSeconds: number): Check {
  if (!observation) return fail('no observation yet');
  const { mysql } = observation;
  if (!mysql.up) return fail(`mysqld unreachable: ${mysql.error}`);
  if (topology.self.name === topology.primary.name) return fail('this node is the primary');
  if (!mysql.variables.readOnly) return fail('replica is writable (not fenced)');
  const replica = mysql.replica;
  if (!replica) return fail('replication is not configured');
  if (!replica.ioRunning) return fail(`IO thread not running (${replica.ioState})${replica.lastIoError ? `: ${replica.lastIoError}` : ''}`);
  if (!replica.sqlRunning) return fail(`SQL thread not running${replica.lastSqlError ? `: ${replica.lastSqlError}` : ''}`);
  if (replica.lagSeconds === null) return fail('lag unknown');
  if (replica.lagSeconds > maxLagSeconds) return fail(`lag ${replica.lagSeconds} s exceeds ${maxLagSeconds} s`);
  return pass(`replica streaming, lag ${replica.lagSeconds} s`);
}

/** GET /read-only: any node that can serve reads within `maxLagSeconds` (the primary included). */
export function readOnlyCheck(observation: Observation | null, topology: Topology, maxLagSeconds: number): Check {
  const primary = primaryCheck(observation, topology);
  if (primary.ok) return primary;
  const replica = replicaCheck(observation, topology, maxLagSeconds);
  return replica.ok || topology.self.name !== topology.primary.name ? replica : primary;
}

/** GET /health: this node serves its own role. */
export function healthCheck(observation: Observation | null, topology: Topology, maxLagSeconds: number): Check {
  return topology.self.name === topology.primary.name
    ? primaryCheck(observation, topology)
    : replicaCheck(observation, topology, maxLagSeconds);
}
