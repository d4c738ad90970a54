// When the loop looks next: soon after it acted, then settling back to its interval.

/**
 * After an action that succeeded the next look comes 50 ms later (SOON_MS), then 100 and 200 ms
 * later, then at the interval: its effect (a promotion the checks should see, a replica catching
 * up on what it was sent) is what the next decisions and the checks need, and a replica that just
 * started replication reports itself behind until it has applied the first events. Not at once:
 * a replica's first look right after START REPLICA can read lag 0 before anything was applied.
 */
export const SETTLING_DELAYS_MS = [100, 200] as const;
/**
 * After an action (so an action decided again and again never runs in a tight loop), new data
 * that arrived during a tick (a wake-up), or a holder's mysqld that stops answering (a kill takes
 * a moment): look again this soon.
 */
export const SOON_MS = 50;

export interface LookState {
  /** Looks without an action since the last action; SETTLING_DELAYS_MS.length once settled (and at start). */
  quietLooks: number;
}

export const SETTLED: LookState = { quietLooks: SETTLING_DELAYS_MS.length };

/** The state after the look just done, and when to look next; `soon`: a reason to look again within SOON_MS. */
export function nextLook(before: LookState, acted: boolean, soon: boolean, intervalMs: number): { state: LookState; delayMs: number } {
  if (acted) return { state: { quietLooks: 0 }, delayMs: SOON_MS };
  const settling = SETTLING_DELAYS_MS[before.quietLooks] ?? intervalMs;
  return {
    state: { quietLooks: Math.min(before.quietLooks + 1, SETTLING_DELAYS_MS.length) },
    delayMs: soon ? SOON_MS : Math.min(settling, intervalMs),
  };
}
