import type { RunConfig } from './config.ts';
import { decide, needsPrimaryPosition } from './decide.ts';
import type { Dialect } from './dialect/index.ts';
import { messageOf } from './errors.ts';
import { healthCheck, roleOf } from './health.ts';
import type { Logger } from './log.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Actuator } from './act.ts';
import type { MysqlObserver } from './observe.ts';
import type { PrimaryPositionWatcher } from './primary-position.ts';
import type { AgentSnapshot } from './snapshot.ts';
import type { Observation } from './state.ts';
import type { PodRolePublisher } from './kubernetes/pod-role-publisher.ts';

export interface AgentParts {
  config: RunConfig;
  dialect: Dialect;
  observer: MysqlObserver;
  watcher: PrimaryPositionWatcher;
  actuator: Actuator;
  metrics: AgentMetrics;
  /** Keeps the pod's role label (and Events) current; a no-op outside Kubernetes. */
  rolePublisher: PodRolePublisher;
  log: Logger;
  snapshot: AgentSnapshot;
}

const AFTER_ACTION_DELAY_MS = 100;

/** The observe → decide → act loop, once per interval, never ending on an error. */
export class AgentLoop {
  readonly #parts: AgentParts;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(parts: AgentParts) {
    this.#parts = parts;
  }

  start(): void {
    const tickAndReschedule = async (): Promise<void> => {
      const acted = await this.tick();
      // After an action, look again soon: its effect is what the next decision needs.
      const delay = acted ? AFTER_ACTION_DELAY_MS : this.#parts.config.loopIntervalMs;
      if (!this.#stopped) this.#timer = setTimeout(tickAndReschedule, delay);
    };
    void tickAndReschedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#parts.watcher.reset();
  }

  /** One observe → decide → act round; returns whether it acted. */
  async tick(): Promise<boolean> {
    const { observer, watcher, actuator, dialect, metrics, rolePublisher, log, snapshot } = this.#parts;
    const started = performance.now();
    const now = Date.now();
    const mysql = await observer.observe(now);
    const topology = snapshot.topology;
    const needsPosition = needsPrimaryPosition(mysql, topology);
    if (!needsPosition) watcher.reset();
    const observation: Observation = {
      at: now,
      mysql,
      primaryPosition: needsPosition ? watcher.probe(topology.primary) : { state: 'not-needed' },
    };
    const decision = decide(observation, { topology, subtractGtids: dialect.subtractGtids });
    if (decision.reason !== snapshot.decision?.reason) log.info({ state: decision.state, action: decision.action.kind }, decision.reason);
    snapshot.observation = observation;
    snapshot.decision = decision;

    if (decision.action.kind !== 'none') {
      try {
        await actuator.run(decision.action);
        snapshot.actionError = null;
        if (decision.action.kind === 'configure-replication') watcher.reset();
        log.info({ action: decision.action.kind }, 'action done');
      } catch (error) {
        snapshot.actionError = `${decision.action.kind} failed: ${messageOf(error)}`;
        metrics.actionFailed();
        log.warn({ action: decision.action.kind, error: messageOf(error) }, 'action failed; retrying on the next tick');
      }
    }
    snapshot.heartbeatAt = Date.now();
    const role = roleOf(observation, topology);
    // Never rejects, and costs an API call only when the role changes (or once a minute).
    if (role !== 'unknown') void rolePublisher.publishRole(role);
    metrics.record(observation, role, healthCheck(observation, topology, snapshot.config.maxLagSeconds), (performance.now() - started) / 1000);
    return decision.action.kind !== 'none';
  }
}
