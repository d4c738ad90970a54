// When the loop looks next: at once after it acted, then settling back to its interval.

/**
 * After an action that succeeded the next look comes at once, then 100 and 200 ms later, then at
 * the interval: its effect (a promotion the checks should see, a replica catching up on what it
 * was sent) is what the next decisions and the checks need, and a replica that just started
 * replication reports itself behind until it has applied the first events.
 */
export const SETTLING_DELAYS_MS = [100, 200] as const;
/** Actions in a row each followed by a look at once (taking the lease, then promoting): more wait SOON_MS each, never a tight loop. */
export const AT_ONCE_IN_A_ROW = 3;
/**
 * An action decided again and again (its effect not visible yet, or it did not take), new data
 * that arrived during a tick (a wake-up), or a holder's mysqld that stops answering (a kill takes
 * a moment): look again this soon.
 */
export const SOON_MS = 50;

export interface LookState {
  /** Actions in a row up to the look just done (0: it did not act). */
  actionsInARow: number;
  /** Looks without an action since the last action; SETTLING_DELAYS_MS.length once settled (and at start). */
  quietLooks: number;
}

export const SETTLED: LookState = { actionsInARow: 0, quietLooks: SETTLING_DELAYS_MS.length };

/** The state after the look just done, and when to look next; `soon`: a reason to look again within SOON_MS. */
export function nextLook(before: LookState, acted: boolean, soon: boolean, intervalMs: number): { state: LookState; delayMs: number } {
  if (acted) {
    const actionsInARow = before.actionsInARow + 1;
    return { state: { actionsInARow, quietLooks: 0 }, delayMs: soon || actionsInARow > AT_ONCE_IN_A_ROW ? SOON_MS : 0 };
  }
  const settling = SETTLING_DELAYS_MS[before.quietLooks] ?? intervalMs;
  return {
    state: { actionsInARow: 0, quietLooks: Math.min(before.quietLooks + 1, SETTLING_DELAYS_MS.length) },
    delayMs: soon ? SOON_MS : Math.min(settling, intervalMs),
  };
}
