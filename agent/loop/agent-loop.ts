import type { RunConfig } from '../config.ts';
import type { LeaseKeeper } from '../coordination/lease-keeper.ts';
import { messageOf } from '../errors.ts';
import type { AgentMetrics } from '../http/metrics.ts';
import { observePeers } from '../http/peer-status.ts';
import type { PrimaryPositionWatcher } from '../http/primary-position-watcher.ts';
import type { PodRolePublisher } from '../kubernetes/pod-role-publisher.ts';
import type { Logger } from '../log.ts';
import type { Dialect } from '../mysql/dialect/index.ts';
import type { MysqlObserver } from '../mysql/observer.ts';
import type { Actuator } from './actuator.ts';
import { decide, ERRANT_STATES, needsPrimaryPosition } from './decide.ts';
import { healthCheck, roleOf } from './health.ts';
import type { AgentSnapshot } from './snapshot.ts';
import type { Observation } from './state.ts';

export interface AgentParts {
  config: RunConfig;
  dialect: Dialect;
  observer: MysqlObserver;
  lease: LeaseKeeper;
  watcher: PrimaryPositionWatcher;
  actuator: Actuator;
  metrics: AgentMetrics;
  /** Keeps the pod's role label (and Events) current; a no-op outside Kubernetes. */
  rolePublisher: PodRolePublisher;
  log: Logger;
  snapshot: AgentSnapshot;
}

const AFTER_ACTION_DELAY_MS = 50;
/** Peers answer /status from memory; a slow one is as good as absent for an election. */
const PEER_TIMEOUT_MS = 500;

/** The observe → decide → act loop, once per interval, never ending on an error. */
export class AgentLoop {
  readonly #parts: AgentParts;
  #timer: NodeJS.Timeout | undefined;
  #wakeRequested = false;
  #stopped = false;
  #mysqldDownSince: number | null = null;
  /** Serialises ticks with switchover steps, which act on the same node. */
  #busy: Promise<unknown> = Promise.resolve();

  constructor(parts: AgentParts) {
    this.#parts = parts;
  }

  start(): void {
    void this.#tickAndReschedule();
  }

  /** Runs the next tick now rather than at its time: new data arrived. A tick under way is followed by another at once. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#timer === undefined) {
      this.#wakeRequested = true;
      return;
    }
    clearTimeout(this.#timer);
    void this.#tickAndReschedule();
  }

  async #tickAndReschedule(): Promise<void> {
    this.#timer = undefined;
    this.#wakeRequested = false;
    const acted = await this.exclusive(() => this.tick());
    // After an action, look again soon: its effect is what the next decision needs.
    const delay = acted || this.#wakeRequested ? AFTER_ACTION_DELAY_MS : this.#parts.config.loopIntervalMs;
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#tickAndReschedule(), delay);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#parts.watcher.reset();
  }

  /** Runs `work` between ticks, never during one. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#busy.then(work);
    this.#busy = result.catch(() => undefined);
    return result;
  }

  async observe(): Promise<Observation> {
    const { config, observer, lease, watcher, snapshot } = this.#parts;
    const now = Date.now();
    const mysql = await observer.observe(now);
    this.#mysqldDownSince = mysql.up ? null : (this.#mysqldDownSince ?? now);
    const downFor = this.#mysqldDownSince === null ? 0 : now - this.#mysqldDownSince;
    // While paused the holder keeps its lease even with mysqld down: no automatic failover.
    const leaseObservation = await lease.observe(now, snapshot.paused || downFor < config.timings.mysqldDownGraceMs);
    const topology = snapshot.topology;
    const primary = needsPrimaryPosition({ mysql, lease: leaseObservation.lease }, topology);
    if (!primary) watcher.reset();
    const others = topology.peers.filter((peer) => peer.name !== topology.self.name);
    return {
      at: now,
      mysql,
      primaryPosition: primary ? watcher.probe(primary) : { state: 'not-needed' },
      ...leaseObservation,
      mysqldDownSince: this.#mysqldDownSince,
      peers: leaseObservation.lease.state === 'free' ? await observePeers(others, config.http.port, PEER_TIMEOUT_MS) : [],
      selfErrant: ERRANT_STATES.has(snapshot.decision?.state ?? ''),
      paused: snapshot.paused,
      handingOver: snapshot.handingOver,
    };
  }

  /** One observe → decide → act round; returns whether it acted successfully (then the next look comes soon). */
  async tick(): Promise<boolean> {
    const { config, watcher, actuator, dialect, metrics, rolePublisher, log, snapshot } = this.#parts;
    const started = performance.now();
    const observation = await this.observe();
    const topology = snapshot.topology;
    const decision = decide(observation, {
      topology,
      subtractGtids: dialect.subtractGtids,
      countGtids: dialect.countGtids,
      mysqldDownGraceMs: config.timings.mysqldDownGraceMs,
      failoverWindowMs: config.timings.failoverWindowMs,
      lossless: config.lossless,
      canClone: config.autoRebuild && dialect.cloneFrom !== null,
    });
    if (decision.reason !== snapshot.decision?.reason) log.info({ state: decision.state, action: decision.action.kind }, decision.reason);
    snapshot.observation = observation;
    snapshot.decision = decision;

    let acted = false;
    if (decision.action.kind !== 'none') {
      try {
        await actuator.run(decision.action);
        snapshot.actionError = null;
        if (decision.action.kind === 'configure-replication') watcher.reset();
        log.info({ action: decision.action.kind }, 'action done');
        acted = true;
      } catch (error) {
        snapshot.actionError = `${decision.action.kind} failed: ${messageOf(error)}`;
        metrics.actionFailed();
        log.warn({ action: decision.action.kind, error: messageOf(error) }, 'action failed; deciding again on the next tick');
      }
    }
    snapshot.heartbeatAt = Date.now();
    const role = roleOf(observation);
    // Never rejects, and costs an API call only when the role changes (or once a minute).
    if (role !== 'unknown') void rolePublisher.publishRole(role);
    const context = { topology, lossless: config.lossless, now: Date.now() };
    metrics.record(observation, role, healthCheck(observation, context, config.maxLagSeconds), (performance.now() - started) / 1000);
    return acted;
  }
}
