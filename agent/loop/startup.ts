import pRetry from 'p-retry';
import { AgentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Dialect, dialectForServer, parseServerVersion, type ServerVersion } from '../mysql/dialect/index.ts';
import type { SqlServer } from './actuator.ts';
import type { Clock } from './clock.ts';
import type { SnapshotBoard } from './snapshot.ts';

const WAIT_FOR_SERVER_INTERVAL_MS = 100;
const LOG_EVERY_ATTEMPTS = 50;

/**
 * The loop's first step: waits (forever, trying every 100 ms) for the local mysqld, then
 * picks its dialect once. Each failed attempt is published, so /health and /status say why
 * nothing is observed yet.
 */
export async function waitForServer(server: SqlServer, board: SnapshotBoard, clock: Clock, log: Logger): Promise<{ version: ServerVersion; dialect: Dialect }> {
  let logged = '';
  const found = await pRetry(
    async () => {
      const [row] = await server.query('SELECT VERSION() AS version');
      const version = parseServerVersion(String(row?.version));
      // An unsupported server is not worth retrying: dialectForServer stops with the reason.
      return { version, dialect: dialectForServer(version) };
    },
    {
      retries: Number.POSITIVE_INFINITY,
      // Local and cheap to try (a refused connection on the pod's own address): a starting mysqld
      // is picked up within 0.1 s of accepting. A backoff up to 1 s cost the bootstrap 0.7-0.9 s.
      minTimeout: WAIT_FOR_SERVER_INTERVAL_MS,
      maxTimeout: WAIT_FOR_SERVER_INTERVAL_MS,
      factor: 1,
      shouldRetry: ({ error }) => !(error instanceof AgentError && error.code === 'MHA_UNSUPPORTED_SERVER'),
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        board.publish({ waitingFor: `mysqld unreachable: ${error.message}`, heartbeatAt: clock.now() });
        // Logged when the reason changes and every 5 s, not 10 times a second.
        if (error.message === logged && attemptNumber % LOG_EVERY_ATTEMPTS !== 0) return;
        logged = error.message;
        log.info({ attempt: attemptNumber, retryInMs: retryDelay, error: error.message }, 'waiting for the local mysqld');
      },
    },
  );
  board.publish({ server: found.version, waitingFor: null, heartbeatAt: clock.now() });
  return found;
}
