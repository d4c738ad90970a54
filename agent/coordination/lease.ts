/**
 * The leader lease: which pod may be primary. One record per cluster, changed only by
 * compare-and-set, so two agents can never both believe they won the same election.
 *
 * Contract every store must keep (test/support/lease-store-contract.ts checks it against
 * each backend):
 *
 * 1. `read()` returns the current record, or null when there is none (never created, released,
 *    or, for stores that expire records themselves, expired). It never throws for "not found".
 * 2. `version` is opaque and changes on every successful write. A write that names a version
 *    succeeds only if the stored record still has that version; otherwise it resolves to
 *    `{ ok: false, current }` with the record that won (or null), and changes nothing.
 * 3. `acquire(holder, ttlMs, expected, handedOver, reason)`: with `expected === null` it creates the
 *    record only if none exists; with a version it replaces exactly that record (taking over an
 *    expired lease, or handing a held one over). On success the record has the new holder,
 *    `term` = previous term + 1 (1 for the first one), `renewedAt` = the store's notion of now,
 *    `ttlMs`, and `handedOver` as given (every reader learns how the lease changed hands).
 * 4. `renew(record, ttlMs)`: succeeds only if the stored record is still `record` (same version,
 *    same holder); keeps the term and `handedOver`, moves `renewedAt`, sets `ttlMs` (the holder's
 *    own: a lease handed over by a peer, or one whose TTL a rolling restart changed, then lasts
 *    as long as its holder fences by), returns the new record.
 * 5. `release(record)`: deletes (or empties) the record only if it is still `record`; true when
 *    it did. After a release `read()` returns null and `acquire(_, _, null)` can succeed.
 * 6. `bootstrapped` is a one-way flag of the cluster (set by `markBootstrapped`, never cleared,
 *    kept across releases): once a first primary has been elected, ordinal 0 gets no special
 *    treatment any more.
 * 7. Transient failures (store unreachable, timeout) reject with an Error that names the store
 *    and what failed; callers treat a rejection as "lease state unknown", never as "lost" or
 *    "won". Every call gives up after the store's request timeout.
 * 8. Every successful `acquire` appends one `LeaseHistoryEntry` (the new term and holder, `from`
 *    the previous holder: the record's it replaced, or when the lease was free (released,
 *    expired) the last entry's, null for the first; `how` from `handedOver`, the
 *    reason as given) in the same compare-and-set write as the record: a lease never changes
 *    hands without its entry, and a refused or failed acquire appends nothing. Renew and release
 *    leave the history as it is; it survives releases and expiry. `history()` returns the last
 *    `LEASE_HISTORY_LIMIT` entries at most, oldest first ([] when there are none), and rejects
 *    as point 7 says; an unreadable stored history reads as [] and is replaced by the next acquire.
 *
 * Expiry is judged by the reader, not the store, for stores without server-side TTLs
 * (Kubernetes Leases, as client-go does): a record whose version has not changed for
 * `ttlMs`, measured on the reader's own monotonic clock since it first saw that version,
 * is expired. Stores with server-side TTLs (etcd) also delete it themselves.
 */
import type { LeaseRecord } from '../loop/state.ts';

// The record is the core's data type (agent/loop/state.ts); the stores keep it.
export type { LeaseRecord };

/** `stored` is still `record`: same version, same holder (what renew and release require). */
export function isSameLease(stored: LeaseRecord | null, record: LeaseRecord): stored is LeaseRecord {
  return stored !== null && stored.version === record.version && stored.holder === record.holder;
}

/** One change of lease holder, as `history()` returns it. */
export interface LeaseHistoryEntry {
  term: number;
  holder: string;
  /** The previous holder: the record's this acquire replaced, or the last entry's when the lease was free; null for the first. */
  from: string | null;
  /** Epoch ms when the write was made: the writing agent's Date.now(). */
  at: number;
  how: 'election' | 'hand-over';
  reason: string;
}

/** Entries kept: the stored history stays within tens of kilobytes, well inside a Lease annotation or an etcd value. */
export const LEASE_HISTORY_LIMIT = 50;

function isLeaseHistoryEntry(value: unknown): value is LeaseHistoryEntry {
  const entry = value as Partial<LeaseHistoryEntry> | null;
  return (
    typeof entry === 'object' &&
    entry !== null &&
    typeof entry.term === 'number' &&
    typeof entry.holder === 'string' &&
    (entry.from === null || typeof entry.from === 'string') &&
    typeof entry.at === 'number' &&
    (entry.how === 'election' || entry.how === 'hand-over') &&
    typeof entry.reason === 'string'
  );
}

/** The stored history (JSON); anything else, or nothing, reads as [] (point 8). */
export function parseLeaseHistory(stored: string | undefined): LeaseHistoryEntry[] {
  if (stored === undefined) return [];
  let history: unknown;
  try {
    history = JSON.parse(stored);
  } catch {
    return [];
  }
  return Array.isArray(history) && history.every(isLeaseHistoryEntry) ? history.slice(-LEASE_HISTORY_LIMIT) : [];
}

/** A successful acquire, as its history entry records it. */
export interface LeaseChangeOfHands {
  term: number;
  holder: string;
  handedOver: boolean;
  /** The record the acquire replaced, or null. */
  previous: LeaseRecord | null;
  at: number;
  reason: string;
}

/** `history` with the entry of an acquire appended, the oldest dropped past the limit. */
export function appendLeaseHistory(history: LeaseHistoryEntry[], change: LeaseChangeOfHands): LeaseHistoryEntry[] {
  const { term, holder, previous, at, reason } = change;
  // A released or expired lease left no record: its last holder is in the history.
  const from = previous?.holder ?? history.at(-1)?.holder ?? null;
  const entry: LeaseHistoryEntry = { term, holder, from, at, how: change.handedOver ? 'hand-over' : 'election', reason };
  return [...history, entry].slice(-LEASE_HISTORY_LIMIT);
}

export type LeaseWrite = { ok: true; record: LeaseRecord } | { ok: false; current: LeaseRecord | null };

export interface LeaseStore {
  /** For messages: e.g. "etcd http://127.0.0.1:2379 key /mysql-ha/mysql-ha/leader". */
  readonly description: string;
  read(): Promise<LeaseRecord | null>;
  /** `reason`: why this node takes the lease (or hands it over), kept in the history. */
  acquire(holder: string, ttlMs: number, expectedVersion: string | null, handedOver: boolean, reason: string): Promise<LeaseWrite>;
  renew(record: LeaseRecord, ttlMs: number): Promise<LeaseWrite>;
  release(record: LeaseRecord): Promise<boolean>;
  isBootstrapped(): Promise<boolean>;
  markBootstrapped(): Promise<void>;
  history(): Promise<LeaseHistoryEntry[]>;
  close(): Promise<void>;
}
