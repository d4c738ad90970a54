import type { RunConfig } from '../config.ts';
import type { ServerVersion } from '../mysql/dialect/index.ts';
import type { Decision, Observation, Topology } from './state.ts';

/** What the HTTP API reads: the loop's latest results, never a live query. */
export interface AgentSnapshot {
  config: Pick<RunConfig, 'pod' | 'maxLagSeconds' | 'livenessTimeoutMs' | 'lossless' | 'switchoverToken'>;
  topology: Topology;
  server: ServerVersion | null;
  observation: Observation | null;
  decision: Decision | null;
  /** The last action's failure, cleared by the next success. */
  actionError: string | null;
  /** Epoch ms of the last sign of progress (a loop tick, or an attempt to reach mysqld). */
  heartbeatAt: number;
  /** Maintenance switch: no automatic failover while set. */
  paused: boolean;
  /** Set while a planned switchover moves the lease away from this node. */
  handingOver: boolean;
}
