import type { LeaseChange } from './state.ts';

/** This many quick failovers in a row happen at once; the next ones wait. */
export const QUICK_FAILOVERS_ALLOWED = 2;
/** The longest a failover is ever held back, in windows. */
const MAX_HOLD_BACK_WINDOWS = 16;

/** How long a primary must have held the lease before the n-th quick failover in a row may replace it. */
function requiredTenureMs(n: number, windowMs: number): number {
  return n <= QUICK_FAILOVERS_ALLOWED ? 0 : windowMs * Math.min(2 ** (n - QUICK_FAILOVERS_ALLOWED - 1), MAX_HOLD_BACK_WINDOWS);
}

/** A primary that lost its lease sooner than this after it took it was part of the flapping. */
function quickLimitMs(n: number, windowMs: number): number {
  return Math.max(windowMs, 2 * requiredTenureMs(n, windowMs));
}

export interface HoldBack {
  /** The failover this one would be in the current run of quick ones (3 = the third in a row). */
  quickFailovers: number;
  /** How much longer the failover waits. */
  waitMs: number;
}

/**
 * Anti-flapping. Failovers (the lease seen free, then a new holder) are quick when the primary
 * they replaced held the lease less than `windowMs`, or less than twice the time the previous
 * one was held back. The first QUICK_FAILOVERS_ALLOWED quick ones in a row happen at once;
 * each further one waits until the dead primary's tenure reaches `windowMs`, then twice that,
 * and so on (at most 16 windows). A primary that keeps the lease long enough, or a planned
 * hand-over, ends the run. Returns null when the failover may happen now.
 *
 * `changes`: holder changes seen, oldest first; the last one is the holder whose lease is now free.
 */
export function failoverHoldBack(changes: readonly LeaseChange[], now: number, windowMs: number): HoldBack | null {
  const current = changes.at(-1);
  if (current === undefined || windowMs === 0) return null;
  let run = 0;
  for (let i = 1; i < changes.length; i++) {
    const change = changes[i]!;
    const tenure = change.at - changes[i - 1]!.at;
    run = change.how === 'failover' && tenure < quickLimitMs(run + 1, windowMs) ? run + 1 : 0;
  }
  const tenure = now - current.at;
  const quickFailovers = run + 1;
  if (tenure >= quickLimitMs(quickFailovers, windowMs)) return null;
  const waitMs = requiredTenureMs(quickFailovers, windowMs) - tenure;
  return waitMs > 0 ? { quickFailovers, waitMs } : null;
}
