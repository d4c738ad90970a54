import pRetry from 'p-retry';
import { AgentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Dialect, dialectForServer, parseServerVersion, type ServerVersion } from '../mysql/dialect/index.ts';
import type { SqlServer } from './actuator.ts';
import type { Clock } from './clock.ts';
import type { SnapshotBoard } from './snapshot.ts';

/**
 * The loop's first step: waits (forever, with capped backoff) for the local mysqld, then
 * picks its dialect once. Each failed attempt is published, so /health and /status say why
 * nothing is observed yet.
 */
export async function waitForServer(server: SqlServer, board: SnapshotBoard, clock: Clock, log: Logger): Promise<{ version: ServerVersion; dialect: Dialect }> {
  const found = await pRetry(
    async () => {
      const [row] = await server.query('SELECT VERSION() AS version');
      const version = parseServerVersion(String(row?.version));
      // An unsupported server is not worth retrying: dialectForServer stops with the reason.
      return { version, dialect: dialectForServer(version) };
    },
    {
      retries: Number.POSITIVE_INFINITY,
      // Local and cheap to try: a starting mysqld is picked up within a second of accepting.
      minTimeout: 200,
      maxTimeout: 1000,
      factor: 1.5,
      shouldRetry: ({ error }) => !(error instanceof AgentError && error.code === 'MHA_UNSUPPORTED_SERVER'),
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        board.publish({ waitingFor: `mysqld unreachable: ${error.message}`, heartbeatAt: clock.now() });
        log.info({ attempt: attemptNumber, retryInMs: retryDelay, error: error.message }, 'waiting for the local mysqld');
      },
    },
  );
  board.publish({ server: found.version, waitingFor: null, heartbeatAt: clock.now() });
  return found;
}
