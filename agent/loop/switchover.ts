import { messageOf } from '../errors.ts';
import { SwitchoverRefused } from '../http/app.ts';
import { observePeers } from '../http/peer-status.ts';
import { LocalServer } from '../mysql/local-server.ts';
import type { AgentLoop, AgentParts } from './agent-loop.ts';
import { holdsLeaseNow } from './decide.ts';

/** The loop's own parts a switchover acts through, and the loop to run between its ticks. */
export type SwitchoverParts = Pick<AgentParts, 'config' | 'dialect' | 'actuator' | 'lease' | 'snapshot' | 'log'> & { loop: AgentLoop };

const CATCH_UP_TIMEOUT_MS = 30_000;
/** One wait on the candidate; the lease is renewed between waits. */
const CATCH_UP_STEP_SECONDS = 1;

/**
 * Planned switchover, run on the primary: stop writes here (read-only, sessions ended), wait
 * until the candidate has executed every transaction this node has, then hand it the lease
 * by compare-and-set. The candidate promotes itself on its next tick; this node follows it.
 * If the candidate does not catch up in time, nothing moves and this node serves again.
 */
export async function switchover(parts: SwitchoverParts, requested: string | undefined): Promise<{ from: string; to: string; handoverMs: number }> {
  const { config, dialect, loop, actuator, lease, snapshot, log } = parts;
  const self = config.pod.name;
  const observation = snapshot.observation;
  if (!observation || !holdsLeaseNow(observation) || !observation.mysql.up || observation.mysql.variables.readOnly) {
    const holder = observation?.lease.state === 'held' ? observation.lease.record.holder : null;
    throw new SwitchoverRefused(`${self} is not the serving primary${holder && holder !== self ? `: send the switchover to ${holder}` : ''}`);
  }
  const others = config.peers.filter((peer) => peer.name !== self);
  if (requested !== undefined && !others.some((peer) => peer.name === requested)) {
    throw new SwitchoverRefused(`${requested} is not a replica of this cluster (replicas: ${others.map((peer) => peer.name).join(', ')})`);
  }
  const statuses = await observePeers(others, config.http.port, 1000);
  const eligible = statuses
    .filter((peer) => peer.unreachable === null && peer.mysqldUp && !peer.errant)
    .sort((a, b) => dialect.countGtids(b.gtidExecuted, b.retrievedGtids) - dialect.countGtids(a.gtidExecuted, a.retrievedGtids));
  const candidate = requested ?? eligible[0]?.name;
  if (candidate === undefined || !eligible.some((peer) => peer.name === candidate)) {
    const why = statuses.find((peer) => peer.name === candidate)?.unreachable ?? 'its mysqld is down or it holds errant transactions';
    throw new SwitchoverRefused(
      candidate === undefined ? 'no replica can take over (every one is unreachable, down or errant)' : `${candidate} cannot take over: ${why}`,
    );
  }

  return loop.exclusive(async () => {
    const started = Date.now();
    snapshot.handingOver = true;
    try {
      log.info({ candidate }, `switchover: stopping writes on ${self}`);
      // The semi-sync source is turned off once the lease has moved (decide: replica-demoting),
      // while the candidate promotes itself.
      await actuator.stopWrites();
      const fenced = (await loop.observe()).mysql;
      if (!fenced.up) throw new SwitchoverRefused(`${self}'s mysqld stopped answering during the switchover`);
      log.info({ candidate, elapsedMs: Date.now() - started }, `switchover: writes stopped on ${self}; waiting for ${candidate} to apply everything`);
      const executed = fenced.variables.gtidExecuted;
      const host = config.peers.find((peer) => peer.name === candidate)!;
      // Asked of the candidate's mysqld itself (same agent account on every node): it answers
      // the moment it has applied everything, where its agent's /status lags by up to a tick.
      const candidateServer = new LocalServer({
        host: host.host,
        port: config.mysql.port,
        user: config.agent.user,
        password: config.agent.password,
        node: candidate,
      });
      const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
      try {
        for (;;) {
          const { sql, values } = dialect.waitForGtids(executed, CATCH_UP_STEP_SECONDS);
          const [row] = await candidateServer.query(sql, values, (CATCH_UP_STEP_SECONDS + 2) * 1000);
          if (Number(row?.applied) === 1) break;
          if (Date.now() > deadline) throw new SwitchoverRefused(`${candidate} did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s; ${self} stays primary`);
          // The lease stays renewed while we wait (the loop is held off meanwhile).
          await lease.observe(Date.now(), true);
        }
      } finally {
        await candidateServer.close();
      }
      log.info({ candidate, elapsedMs: Date.now() - started }, `switchover: ${candidate} has applied every transaction of ${self}`);
      await lease.handOver(candidate);
      log.info({ candidate }, `switchover: lease handed to ${candidate}`);
      return { from: self, to: candidate, handoverMs: Date.now() - started };
    } catch (error) {
      log.warn({ candidate, error: messageOf(error) }, 'switchover abandoned');
      throw error instanceof SwitchoverRefused ? error : new SwitchoverRefused(`switchover to ${candidate} failed: ${messageOf(error)}`);
    } finally {
      snapshot.handingOver = false;
    }
  });
}
