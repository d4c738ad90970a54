import { appendLeaseHistory, type LeaseHistoryEntry, type LeaseRecord, type LeaseStore, type LeaseWrite } from '../../agent/coordination/lease.ts';
import type { FakeClock } from './fake-clock.ts';

/**
 * One lease record in memory, kept by compare-and-set as agent/coordination/lease.ts
 * requires, for unit tests of the code above the store. `unreachable` makes every call
 * reject, as a store that cannot be reached does; `latencyMs` moves the clock during a write.
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly description = 'memory lease store';
  record: LeaseRecord | null = null;
  bootstrapped = false;
  historyEntries: LeaseHistoryEntry[] = [];
  unreachable: string | null = null;
  latencyMs = 0;
  readonly calls: string[] = [];
  #version = 0;
  readonly #clock: FakeClock;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  /** Another agent writes the record (takes or renews the lease) behind this one's back. */
  put(holder: string, ttlMs: number, term = (this.record?.term ?? 0) + 1, handedOver = false): LeaseRecord {
    this.record = { holder, term, ttlMs, renewedAt: this.#clock.now(), version: String(++this.#version), handedOver };
    return this.record;
  }

  async read(): Promise<LeaseRecord | null> {
    this.#call('read');
    return this.record;
  }

  async acquire(holder: string, ttlMs: number, expectedVersion: string | null, handedOver: boolean, reason: string): Promise<LeaseWrite> {
    this.#call(`acquire ${holder}`);
    this.#clock.advance(this.latencyMs);
    const previous = this.record;
    if ((previous?.version ?? null) !== expectedVersion) return { ok: false, current: previous };
    const record = this.put(holder, ttlMs, undefined, handedOver);
    this.historyEntries = appendLeaseHistory(this.historyEntries, { ...record, previous, at: record.renewedAt, reason });
    return { ok: true, record };
  }

  async renew(record: LeaseRecord, ttlMs: number): Promise<LeaseWrite> {
    this.#call('renew');
    this.#clock.advance(this.latencyMs);
    if (this.record?.version !== record.version || this.record.holder !== record.holder) return { ok: false, current: this.record };
    return { ok: true, record: this.put(record.holder, ttlMs, record.term, record.handedOver) };
  }

  async release(record: LeaseRecord): Promise<boolean> {
    this.#call('release');
    if (this.record?.version !== record.version) return false;
    this.record = null;
    return true;
  }

  async isBootstrapped(): Promise<boolean> {
    this.#call('isBootstrapped');
    return this.bootstrapped;
  }

  async markBootstrapped(): Promise<void> {
    this.#call('markBootstrapped');
    this.bootstrapped = true;
  }

  async history(): Promise<LeaseHistoryEntry[]> {
    this.#call('history');
    return this.historyEntries;
  }

  async close(): Promise<void> {}

  #call(what: string): void {
    if (this.unreachable !== null) throw new Error(`${this.description}: cannot ${what}: ${this.unreachable}`);
    this.calls.push(what);
  }
}
