import type { CopyProgress } from '../loop/snapshot.ts';

/** MySQL's clone steps after which the recipient is restarting on the copy. */
const RESTART_STEPS = new Set(['RESTART', 'RECOVERY']);
const IN_PROGRESS = 'In Progress';

/**
 * A running clone's progress from its per-step rows (the dialect's cloneProgressQuery), or null
 * while no step runs: the table keeps the previous clone's rows until a new one starts.
 */
export function cloneProgressOf(rows: Record<string, unknown>[], donor: string): CopyProgress | null {
  const running = rows.find((row) => row.state === IN_PROGRESS);
  if (running === undefined) return null;
  const sum = (column: string) => rows.reduce((total, row) => total + (Number(row[column]) || 0), 0);
  const step = String(running.step);
  return { stage: RESTART_STEPS.has(step) ? 'restarting' : 'receiving', donor, bytes: sum('bytes'), estimatedBytes: sum('estimatedBytes'), step };
}

export interface CloneWatch {
  /** Stops polling; resolves once a poll under way has ended. */
  stop(): Promise<void>;
}

/**
 * Polls the clone's progress on a session of its own (the clone's session is busy with CLONE
 * INSTANCE) and reports each reading. A failed poll (the server restarting on the copy) is skipped.
 */
export function watchClone(
  session: { query(sql: string): Promise<Record<string, unknown>[]>; close(): Promise<void> },
  query: string,
  donor: string,
  report: (progress: CopyProgress) => void,
  everyMs: number,
): CloneWatch {
  let polling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      const progress = await session.query(query).then(
        (rows) => cloneProgressOf(rows, donor),
        () => null,
      );
      if (progress !== null) report(progress);
    });
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await polling;
      await session.close().catch(() => undefined);
    },
  };
}
