import type { Actuator } from './act.ts';
import type { AgentLoop } from './agent.ts';
import type { RunConfig } from './config.ts';
import type { LeaseKeeper } from './coordination/lease-keeper.ts';
import { holdsLeaseNow } from './decide.ts';
import type { Dialect } from './dialect/types.ts';
import { messageOf } from './errors.ts';
import { SwitchoverRefused } from './http/app.ts';
import type { Logger } from './log.ts';
import { observePeers } from './peers.ts';
import type { AgentSnapshot } from './snapshot.ts';

export interface SwitchoverParts {
  config: RunConfig;
  dialect: Dialect;
  loop: AgentLoop;
  actuator: Actuator;
  lease: LeaseKeeper;
  snapshot: AgentSnapshot;
  log: Logger;
}

const CATCH_UP_TIMEOUT_MS = 30_000;

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
    throw new SwitchoverRefused(candidate === undefined ? 'no replica can take over (every one is unreachable, down or errant)' : `${candidate} cannot take over: ${why}`);
  }

  return loop.exclusive(async () => {
    const started = Date.now();
    snapshot.handingOver = true;
    try {
      log.info({ candidate }, `switchover: stopping writes on ${self}`);
      await actuator.fence();
      const fenced = (await loop.observe()).mysql;
      if (!fenced.up) throw new SwitchoverRefused(`${self}'s mysqld stopped answering during the switchover`);
      const executed = fenced.variables.gtidExecuted;
      const host = config.peers.find((peer) => peer.name === candidate)!;
      const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
      for (;;) {
        const [status] = await observePeers([host], config.http.port, 1000);
        if (status && status.unreachable === null && dialect.subtractGtids(executed, status.gtidExecuted) === '') break;
        if (Date.now() > deadline) throw new SwitchoverRefused(`${candidate} did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s; ${self} stays primary`);
        // The lease stays renewed while we wait (the loop is held off meanwhile).
        await lease.observe(Date.now(), true);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
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
