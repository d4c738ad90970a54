import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Check, Role } from '../loop/health.ts';
import type { Observation } from '../loop/state.ts';

const ROLES: Role[] = ['primary', 'replica', 'unknown'];

/** How often the event-loop delay is sampled; nodejs_eventloop_lag_*_seconds include it. */
export const EVENT_LOOP_SAMPLING_MS = 50;

/** Prometheus metrics, updated once per loop tick; /metrics only serialises them. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly #role = new Gauge({ name: 'mysql_ha_role', help: '1 for the role this node has now', labelNames: ['role'], registers: [this.registry] });
  readonly #healthy = new Gauge({ name: 'mysql_ha_healthy', help: '1 when this node serves its role', registers: [this.registry] });
  readonly #mysqldUp = new Gauge({ name: 'mysql_ha_mysqld_up', help: '1 when the local mysqld answers', registers: [this.registry] });
  readonly #lag = new Gauge({ name: 'mysql_ha_replication_lag_seconds', help: 'Seconds behind the source (NaN when unknown)', registers: [this.registry] });
  readonly #io = new Gauge({ name: 'mysql_ha_replication_io_running', help: '1 when the replication IO thread runs', registers: [this.registry] });
  readonly #sql = new Gauge({ name: 'mysql_ha_replication_sql_running', help: '1 when the replication SQL thread runs', registers: [this.registry] });
  readonly #loop = new Histogram({
    name: 'mysql_ha_loop_duration_seconds',
    help: 'Time one observe-decide-act tick took',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly #actionFailures = new Counter({ name: 'mysql_ha_action_failures_total', help: 'Actions that failed', registers: [this.registry] });
  readonly #term = new Gauge({
    name: 'mysql_ha_lease_term',
    help: "The lease's term (changes of holder) as this node last saw it held",
    registers: [this.registry],
  });
  readonly #failovers = new Counter({
    name: 'mysql_ha_failovers_total',
    help: 'Times this node took the lease by an election (the cluster total is the sum over its pods)',
    registers: [this.registry],
  });
  readonly #switchovers = new Counter({
    name: 'mysql_ha_switchovers_total',
    help: 'Times this node was handed the lease (planned switchovers and pod deletions; summed over the pods)',
    registers: [this.registry],
  });
  readonly #semiSyncWaiting = new Gauge({
    name: 'mysql_ha_semi_sync_waiting_sessions',
    help: "Client sessions whose commit waits for a replica's acknowledgement now (the primary, semi-sync on; NaN when unknown)",
    registers: [this.registry],
  });
  readonly #reinits = new Counter({
    name: 'mysql_ha_reinits_total',
    help: "Times this node replaced its data with a copy of another's (reinit asked for, or automatic)",
    registers: [this.registry],
  });
  readonly #sinceFailover = new Gauge({
    name: 'mysql_ha_seconds_since_last_failover',
    help: 'Seconds since the last failover this agent saw (NaN: none since it started)',
    registers: [this.registry],
  });
  /** The last lease change of this node's own already counted. */
  #countedAt = Number.NEGATIVE_INFINITY;

  constructor() {
    // Node's own, among them nodejs_eventloop_lag_p99_seconds (how long the loop's SQL, lease calls
    // and garbage collection kept HTTP checks waiting, since the last scrape), the resident memory
    // and CPU time. The delay is sampled every EVENT_LOOP_SAMPLING_MS (every 20 ms cost an idle
    // agent 0.3 % of a core), and Node counts that interval in every sample: an idle loop reads 0.05 s.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
  }

  /** Once per tick; `self` is this pod's name (the lease changes it took are counted on it). */
  record(observation: Observation, role: Role, health: Check, loopSeconds: number, self: string): void {
    for (const name of ROLES) this.#role.set({ role: name }, name === role ? 1 : 0);
    this.#healthy.set(health.ok ? 1 : 0);
    this.#mysqldUp.set(observation.mysql.up ? 1 : 0);
    this.#semiSyncWaiting.set(observation.mysql.up ? (observation.mysql.variables.semiSyncWaiting ?? Number.NaN) : Number.NaN);
    const replica = observation.mysql.up ? observation.mysql.replica : null;
    this.#lag.set(replica?.lagSeconds ?? Number.NaN);
    this.#io.set(replica?.ioRunning ? 1 : 0);
    this.#sql.set(replica?.sqlRunning ? 1 : 0);
    this.#loop.observe(loopSeconds);
    const { lease, leaseChanges } = observation;
    if (lease.state === 'held') this.#term.set(lease.record.term);
    const taken = leaseChanges.filter((change) => change.holder === self && change.how !== 'first-seen' && change.at > this.#countedAt);
    for (const change of taken) (change.how === 'failover' ? this.#failovers : this.#switchovers).inc();
    this.#countedAt = Math.max(this.#countedAt, ...taken.map((change) => change.at));
    const lastFailover = leaseChanges.findLast((change) => change.how === 'failover');
    this.#sinceFailover.set(lastFailover ? (observation.at - lastFailover.at) / 1000 : Number.NaN);
  }

  actionFailed(): void {
    this.#actionFailures.inc();
  }

  /** A copy of another node's data is in place. */
  reinitDone(): void {
    this.#reinits.inc();
  }
}
