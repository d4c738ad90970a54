import type { RunConfig } from '../config.ts';
import type { ServerVersion } from '../mysql/dialect/index.ts';
import type { SwitchoverOutcome } from './controls.ts';
import type { Action, Decision, Observation, Topology } from './state.ts';

/** What the HTTP API reads: the loop's latest results, never a live query. Replaced whole, never changed. */
export interface AgentSnapshot {
  readonly config: Pick<RunConfig, 'pod' | 'maxLagSeconds' | 'livenessTimeoutMs' | 'lossless' | 'switchoverToken' | 'tls'>;
  readonly topology: Topology;
  readonly server: ServerVersion | null;
  /** Why there is no observation yet: the loop waits for the local mysqld to answer. */
  readonly waitingFor: string | null;
  readonly observation: Observation | null;
  readonly decision: Decision | null;
  /** The last action's failure, cleared by the next success. */
  readonly actionError: string | null;
  /** The last switchover request's outcome. */
  readonly lastSwitchover: (SwitchoverOutcome & { at: number }) | null;
  /** When the loop last showed progress (a tick, or an attempt to reach mysqld), on the agent's clock. */
  readonly heartbeatAt: number;
  /** The action under way (a clone, a catch-up, a hand-over), since when on the agent's clock; null between actions. */
  readonly runningAction: { kind: Action['kind']; since: number; progress?: CopyProgress } | null;
  /** A write-stopping action (hand-over, step-down, fence, release) started since the last observation; cleared by the next one. */
  readonly writesStoppedBy: Action['kind'] | null;
}

/** How far a copy of another node's data (MySQL's clone, MariaDB's streamed mariadb-backup) has come. */
export interface CopyProgress {
  stage: 'receiving' | 'preparing' | 'restarting';
  donor: string;
  /** Received so far. */
  bytes: number;
  /** The whole copy's size, where the copy estimates it ahead (MySQL's clone). */
  estimatedBytes?: number;
  /** The copy's own step, where it names one (MySQL's clone: FILE COPY, PAGE COPY, REDO COPY, …). */
  step?: string;
}

/** The one place a snapshot is published: the loop (and its start-up) write, HTTP reads. */
export class SnapshotBoard {
  #current: AgentSnapshot;

  constructor(initial: AgentSnapshot) {
    this.#current = Object.freeze(initial);
  }

  get current(): AgentSnapshot {
    return this.#current;
  }

  publish(changes: Partial<AgentSnapshot>): void {
    this.#current = Object.freeze({ ...this.#current, ...changes });
  }
}
