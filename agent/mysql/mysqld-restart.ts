import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../errors.ts';

/**
 * While this file exists beside mysqld's socket, its supervisor (the image's entrypoint, the
 * sandbox's shell) does not start mysqld again after it exits: the agent has stopped it on
 * purpose (a restart asked for, a copy being swapped in).
 */
export const HOLD_FILE = 'mysql-ha.hold';
/** Written by the supervisor while it holds mysqld stopped (mysqld has exited), removed when it starts it again. */
export const HELD_FILE = 'mysql-ha.held';
/** Shutting down flushes the buffer pool; starting may replay the redo log. */
const RESTART_TIMEOUT_MS = 10 * 60 * 1000;
const POLL_MS = 200;

export interface RestartableServer {
  query(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Stops this node's mysqld (SHUTDOWN) with its supervisor holding it, runs `whileStopped`,
 * then lets the supervisor start it and waits until it answers. Rejects with RESTART_FAILED,
 * naming the node, when mysqld does not stop or does not come back.
 */
export async function restartMysqld(node: string, server: RestartableServer, whileStopped: () => Promise<void> = async () => {}): Promise<void> {
  const [paths] = await server.query('SELECT @@socket AS socket');
  const hold = join(dirname(String(paths!.socket)), HOLD_FILE);
  const held = join(dirname(String(paths!.socket)), HELD_FILE);
  await rm(held, { force: true });
  await writeFile(hold, `${node}: the agent stopped mysqld on purpose; it removes this file to have it started again\n`);
  try {
    // The server ends this session as it stops.
    await server.query('SHUTDOWN').catch(() => undefined);
    // Not mysqld's pid file: it is gone before the process is, and the supervisor must have seen the hold.
    await until(
      () => existsSync(held),
      `${node}: mysqld was not held stopped within ${RESTART_TIMEOUT_MS / 60_000} min after SHUTDOWN: is it run by a supervisor that waits while ${hold} ` +
        "exists (the mysql-ha image's entrypoint)? See its error log",
    );
    await whileStopped();
  } finally {
    await rm(hold, { force: true });
  }
  await until(
    () =>
      server.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    `${node}: mysqld did not start again within ${RESTART_TIMEOUT_MS / 60_000} min: is it run by a supervisor that waits while ${hold} exists ` +
      "(the mysql-ha image's entrypoint)? See its error log",
  );
}

async function until(done: () => boolean | Promise<boolean>, timeoutMessage: string): Promise<void> {
  const deadline = Date.now() + RESTART_TIMEOUT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new AgentError('RESTART_FAILED', timeoutMessage);
    await sleep(POLL_MS);
  }
}
