import { AgentError, messageOf } from '../errors.ts';
import type { Clock } from '../loop/clock.ts';
import type { LeaseChange, LeaseView } from '../loop/state.ts';
import type { LeaseRecord, LeaseStore } from './lease.ts';

export interface LeaseTimings {
  ttlMs: number;
  /** How often the holder renews. */
  renewPeriodMs: number;
  /** The holder stops being writable this long before its lease could expire in the store. */
  fenceMarginMs: number;
}

export interface LeaseObservation {
  lease: LeaseView;
  heldUntil: number | null;
  leaseChanges: LeaseChange[];
}

/** Holder changes kept for anti-flapping: enough for the longest run it can hold back. */
const KEPT_CHANGES = 8;

/**
 * This agent's side of the leader lease: reads it every tick, renews it while this node
 * holds it, and judges expiry on its own monotonic clock (a record whose version has not
 * changed for its TTL is expired), as client-go's leader election does. Every deadline is on
 * the injected monotonic clock. Store failures are observations ("unknown"), never
 * exceptions out of observe().
 */
export class LeaseKeeper {
  readonly #store: LeaseStore;
  readonly #self: string;
  readonly #timings: LeaseTimings;
  readonly #clock: Clock;
  #seen: { version: string; at: number } | undefined;
  #heldUntil: number | null = null;
  #lastRenewAt = 0;
  #record: LeaseRecord | null = null;
  #lastHolder: string | undefined;
  /** When this agent first saw the lease free, while it is free. */
  #freeSince: number | null = null;
  #changes: LeaseChange[] = [];

  constructor(store: LeaseStore, self: string, timings: LeaseTimings, clock: Clock) {
    this.#store = store;
    this.#self = self;
    this.#timings = timings;
    this.#clock = clock;
  }

  get store(): LeaseStore {
    return this.#store;
  }

  /** `keep`: this node may go on holding the lease (its mysqld is up, or down less than the grace period). */
  async observe(keep: boolean): Promise<LeaseObservation> {
    try {
      let record = await this.#store.read();
      const now = this.#clock.now();
      if (record?.holder === this.#self && keep && (this.#heldUntil === null || now - this.#lastRenewAt >= this.#timings.renewPeriodMs)) {
        record = await this.#renew(record);
      }
      if (record?.holder !== this.#self) this.#heldUntil = null;
      this.#record = record;
      const lease = await this.#view(record);
      this.#noteHolder(lease, now);
      return { lease, heldUntil: this.#heldUntil, leaseChanges: this.#changes };
    } catch (error) {
      return { lease: { state: 'unknown', error: messageOf(error) }, heldUntil: this.#heldUntil, leaseChanges: this.#changes };
    }
  }

  /**
   * Failsafe (agent/loop/failsafe.ts): every peer confirmed, in a round started at `askedAt`,
   * that it follows this node and cannot reach the store; the lease is good for one more TTL
   * from then (less the fencing margin). Only while this node still holds it. Returns the deadline.
   */
  extendByFailsafe(askedAt: number): number | null {
    if (this.#heldUntil === null || askedAt >= this.#heldUntil) return this.#heldUntil;
    this.#heldUntil = Math.max(this.#heldUntil, askedAt + this.#timings.ttlMs - this.#timings.fenceMarginMs);
    return this.#heldUntil;
  }

  /** Takes the free lease by compare-and-set; throws when another node won it. `reason` goes into the lease history. */
  async acquire(expectedVersion: string | null, reason: string): Promise<void> {
    const started = this.#clock.now();
    const result = await this.#store.acquire(this.#self, this.#timings.ttlMs, expectedVersion, false, reason);
    if (!result.ok) {
      throw new AgentError(
        'LEASE_CHANGED',
        `${this.#self} lost the election: ${result.current ? `${result.current.holder} took the lease` : 'the lease changed'} first`,
      );
    }
    this.#held(result.record, started);
    if (!(await this.#store.isBootstrapped())) await this.#store.markBootstrapped();
  }

  /** Gives the lease up (mysqld gone, or promotion impossible). */
  async release(): Promise<void> {
    const record = this.#record;
    this.#heldUntil = null;
    if (record?.holder === this.#self) await this.#store.release(record);
  }

  /** Planned switchover: hands the lease straight to `candidate` by compare-and-set. */
  async handOver(candidate: string): Promise<void> {
    const record = this.#record;
    if (record?.holder !== this.#self) throw new AgentError('LEASE_CHANGED', `${this.#self} cannot hand the lease over: it does not hold it`);
    this.#heldUntil = null;
    const result = await this.#store.acquire(candidate, this.#timings.ttlMs, record.version, true, `planned hand-over from ${this.#self}`);
    if (!result.ok) throw new AgentError('LEASE_CHANGED', `the lease changed while ${this.#self} handed it over (now ${result.current?.holder ?? 'free'})`);
    this.#record = result.record;
  }

  async #renew(record: LeaseRecord): Promise<LeaseRecord | null> {
    const started = this.#clock.now();
    const result = await this.#store.renew(record, this.#timings.ttlMs);
    if (!result.ok) {
      this.#heldUntil = null;
      return result.current;
    }
    this.#held(result.record, started);
    return result.record;
  }

  /** Valid from when the request was sent, so the store's own expiry is always later than ours. */
  #held(record: LeaseRecord, requestStartedAt: number): void {
    this.#record = record;
    this.#lastRenewAt = requestStartedAt;
    this.#heldUntil = requestStartedAt + record.ttlMs - this.#timings.fenceMarginMs;
  }

  /** How the lease changed hands comes from the record itself, so every agent agrees on it, whether it saw the lease free or not. */
  #noteHolder(lease: LeaseView, now: number): void {
    if (lease.state !== 'held') return;
    const { holder, handedOver } = lease.record;
    if (holder === this.#lastHolder) return;
    const how = this.#lastHolder === undefined ? 'first-seen' : handedOver ? 'hand-over' : 'failover';
    this.#changes = [...this.#changes, { holder, at: now, how } as const].slice(-KEPT_CHANGES);
    this.#lastHolder = holder;
  }

  async #view(record: LeaseRecord | null): Promise<LeaseView> {
    const monotonic = this.#clock.now();
    if (record !== null && this.#seen?.version !== record.version) this.#seen = { version: record.version, at: monotonic };
    const expired = record !== null && monotonic - this.#seen!.at > record.ttlMs && record.holder !== this.#self;
    if (record !== null && !expired) {
      this.#freeSince = null;
      return { state: 'held', record, mine: record.holder === this.#self, expiresAt: this.#seen!.at + record.ttlMs };
    }
    this.#freeSince ??= monotonic;
    const bootstrapped = record !== null || (await this.#store.isBootstrapped());
    return { state: 'free', record, lastHolder: this.#lastHolder ?? null, bootstrapped, freeSince: this.#freeSince };
  }
}
