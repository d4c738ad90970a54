import { healthCheck, roleOf } from '../health.ts';
import type { AgentSnapshot } from '../snapshot.ts';

/** GET /status: everything a human needs to see about this node in one document. */
export function statusOf(snapshot: AgentSnapshot) {
  const { topology, observation, server, decision } = snapshot;
  const mysql = observation?.mysql;
  const up = mysql?.up ? mysql : null;
  const replica = up?.replica ?? null;
  const health = healthCheck(observation, topology, snapshot.config.maxLagSeconds);
  const warnings: string[] = [];
  if (up && up.readOnlyBypass.length > 0) {
    warnings.push(
      `accounts holding READ_ONLY ADMIN can write even when this node is read-only, bypassing fencing: ${up.readOnlyBypass.join(', ')}; ` +
        'revoke it from every account but the agent\'s',
    );
  }
  return {
    pod: snapshot.config.pod.name,
    ordinal: snapshot.config.pod.ordinal,
    role: roleOf(observation, topology),
    healthy: health.ok,
    reason: health.reason,
    readOnly: up ? up.variables.readOnly : null,
    flavor: server?.flavor ?? null,
    version: server?.version ?? null,
    serverId: up ? up.variables.serverId : null,
    gtidExecuted: up ? up.variables.gtidExecuted : null,
    replication: replica && {
      source: replica.sourceHost === topology.primary.host ? topology.primary.name : `${replica.sourceHost}:${replica.sourcePort}`,
      ioRunning: replica.ioRunning,
      sqlRunning: replica.sqlRunning,
      lagSeconds: replica.lagSeconds,
      lastError: replica.lastSqlError || replica.lastIoError || null,
    },
    leader: topology.primary.name,
    decision: decision && { state: decision.state, action: decision.action.kind, reason: decision.reason },
    actionError: snapshot.actionError,
    mysqld: mysql && !mysql.up ? { up: false, error: mysql.error } : { up: Boolean(up) },
    warnings,
    observedAt: observation ? new Date(observation.at).toISOString() : null,
  };
}
