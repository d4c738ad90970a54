import type { ControlInbox } from '../loop/controls.ts';
import { observedSinceLeaseFree, primaryOf } from '../loop/decide.ts';
import { checkContext, healthCheck, judge, roleOf } from '../loop/health.ts';
import type { AgentSnapshot } from '../loop/snapshot.ts';

/** Said in /status and the log when MYSQL_HA_TLS_DIR is not set. */
export const UNVERIFIED_TLS_WARNING =
  "no certificates configured (MYSQL_HA_TLS_DIR): replication, clones and the agent's connections to peers are not verified, " +
  'so a man in the middle could read their passwords and data; mount a cert-manager Secret (ca.crt, tls.crt, tls.key) and set MYSQL_HA_TLS_DIR';

/** GET /status: everything a human needs to see about this node in one document. */
export function statusOf(snapshot: AgentSnapshot, controls: Pick<ControlInbox, 'paused' | 'terminating'>, now: number) {
  const { topology, observation, server, decision } = snapshot;
  const mysql = observation?.mysql;
  const up = mysql?.up ? mysql : null;
  const replica = up?.replica ?? null;
  const health = judge(snapshot, (observed) => healthCheck(observed, checkContext(snapshot, now, controls.terminating), snapshot.config.maxLagSeconds));
  const primary = observation ? primaryOf(observation, topology) : null;
  const lease = observation?.lease;
  const warnings: string[] = [];
  if (up && up.readOnlyBypass.length > 0) {
    warnings.push(
      `accounts holding READ_ONLY ADMIN can write even when this node is read-only, bypassing fencing: ${up.readOnlyBypass.join(', ')}; ` +
        "revoke it from every account but the agent's",
    );
  }
  if (!snapshot.config.tls.files) warnings.push(UNVERIFIED_TLS_WARNING);
  if (controls.paused) warnings.push('automatic failover is paused (maintenance)');
  if (controls.terminating) warnings.push('this pod is terminating: it hands over its lease, if it holds it, and takes none');
  return {
    pod: snapshot.config.pod.name,
    ordinal: snapshot.config.pod.ordinal,
    role: roleOf(observation),
    healthy: health.ok,
    reason: health.reason,
    readOnly: up ? up.variables.readOnly : null,
    flavor: server?.flavor ?? null,
    version: server?.version ?? null,
    serverId: up ? up.variables.serverId : null,
    gtidExecuted: up ? up.variables.gtidExecuted : null,
    replication: replica && {
      source: replica.sourceHost === primary?.host ? primary.name : `${replica.sourceHost}:${replica.sourcePort}`,
      ioRunning: replica.ioRunning,
      sqlRunning: replica.sqlRunning,
      lagSeconds: replica.lagSeconds,
      lastError: replica.lastSqlError || replica.lastIoError || null,
      retrievedGtids: replica.retrievedGtids,
    },
    leader: primary?.name ?? null,
    lease: !lease
      ? null
      : lease.state === 'unknown'
        ? { state: 'unknown' as const, error: lease.error }
        : lease.state === 'free'
          ? {
              state: 'free' as const,
              lastHolder: lease.record?.holder ?? lease.lastHolder,
              bootstrapped: lease.bootstrapped,
              observedSinceFree: observedSinceLeaseFree(observation),
            }
          : { state: 'held' as const, holder: lease.record.holder, term: lease.record.term, mine: lease.mine },
    semiSync: up ? { source: up.variables.semiSyncSource, lossless: snapshot.config.lossless } : null,
    decision: decision && { state: decision.state, action: decision.action.kind, reason: decision.reason },
    runningAction: snapshot.runningAction && {
      kind: snapshot.runningAction.kind,
      runningForMs: Math.round(now - snapshot.runningAction.since),
      ...(snapshot.runningAction.progress && { progress: snapshot.runningAction.progress }),
    },
    // How the lease last changed hands, as this agent saw it.
    leaseChanges: (observation?.leaseChanges ?? []).map((change) => ({ ...change, at: new Date(change.at).toISOString() })),
    actionError: snapshot.actionError,
    mysqld: up ? { up: true } : { up: false, error: mysql && !mysql.up ? mysql.error : snapshot.waitingFor },
    paused: controls.paused,
    terminating: controls.terminating,
    revision: topology.revision,
    tags: topology.tags,
    peers: topology.peers.map((peer) => peer.name),
    lastSwitchover: snapshot.lastSwitchover && { ...snapshot.lastSwitchover, at: new Date(snapshot.lastSwitchover.at).toISOString() },
    warnings,
    observedAt: observation ? new Date(observation.at).toISOString() : null,
    /** Whether free texts were withheld (a caller without the token). */
    redacted: false,
  };
}

/** The document GET /status answers, as its clients read it. */
export type AgentStatus = ReturnType<typeof statusOf>;

/** What a caller without the token reads instead of a free text. */
export const WITHHELD = 'withheld: send the token (Authorization: Bearer <MYSQL_HA_SWITCHOVER_TOKEN>) to read it';

/**
 * /status for a caller without the token: every field that peers' elections, dashboards and
 * scripts use (role, health, states, GTIDs, lag, lease holder and term, peers) as it is, and every
 * free text withheld: reasons, errors and warnings name accounts, hosts, files and statements.
 */
export function withoutTexts(status: AgentStatus): AgentStatus {
  const withhold = (text: string | null | undefined) => (text === null || text === undefined ? null : WITHHELD);
  const { replication, lease, decision, mysqld, lastSwitchover } = status;
  return {
    ...status,
    reason: WITHHELD,
    replication: replication && { ...replication, lastError: withhold(replication.lastError) },
    lease: lease?.state === 'unknown' ? { ...lease, error: WITHHELD } : lease,
    decision: decision && { ...decision, reason: WITHHELD },
    actionError: withhold(status.actionError),
    mysqld: mysqld.up ? mysqld : { up: false, error: withhold(mysqld.error) },
    lastSwitchover: lastSwitchover && !lastSwitchover.ok ? { ...lastSwitchover, reason: WITHHELD } : lastSwitchover,
    warnings: status.warnings.map(() => WITHHELD),
    redacted: true,
  };
}
