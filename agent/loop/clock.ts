/** The agent's one source of time, injected so that tests can drive it. */
export interface Clock {
  /** Milliseconds, never going backwards. */
  now(): number;
}

/**
 * Monotonic (an NTP step cannot move a lease deadline), anchored to the epoch when the
 * process started, so its readings also serve as timestamps in /status and the log.
 */
export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };
