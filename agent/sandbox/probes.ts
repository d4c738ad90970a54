// Looking at a sandbox from the outside, shared by the sandbox itself, the tests and the
// benchmark: wait until something holds, whether an address accepts TCP, root's SQL.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Connection, createConnection } from 'mysql2/promise';
import { AgentError, messageOf } from '../errors.ts';
import type { SandboxPodSpec } from './pod.ts';

export interface WaitOptions {
  /** Pause between two probes (default 200 ms). */
  intervalMs?: number;
  /** The error thrown once time is up, from the last error a probe threw (default: "timed out after … waiting for …"). */
  timeoutError?: (lastError: unknown) => Error;
}

/**
 * Calls `probe` until it returns something other than undefined or false, and returns that.
 * A probe that throws counts as "not yet"; when time is up the error names the last one.
 */
export async function waitFor<T>(description: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, options: WaitOptions = {}): Promise<T> {
  const { intervalMs = 200, timeoutError } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) break;
    await sleep(intervalMs);
  }
  if (timeoutError) throw timeoutError(lastError);
  const why = lastError === undefined ? '' : `: ${messageOf(lastError)}`;
  throw new AgentError(
    'SANDBOX_TIMEOUT',
    `timed out after ${timeoutMs} ms waiting for ${description}${why}`,
    lastError === undefined ? {} : { cause: lastError },
  );
}

/** Resolves true when something accepts TCP connections on host:port, false when refused or silent for `timeoutMs`. */
export function accepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Refuses to start on an address another process already serves (a leftover sandbox, say). */
export async function assertPortsFree(owner: Pick<SandboxPodSpec, 'name' | 'address'>, ports: number[]): Promise<void> {
  for (const port of ports) {
    if (await accepts(owner.address, port)) throw new AgentError('SANDBOX_ADDRESS_IN_USE', `${owner.name}: ${owner.address}:${port} is already in use`);
  }
}

/** root over the pod's own socket: the administrator's view, independent of the agent. */
export function rootConnection(pod: { paths: { socket: string } }): Promise<Connection> {
  return createConnection({ socketPath: pod.paths.socket, user: 'root', password: '' });
}

/** One statement as root over the pod's socket, on a connection of its own; its rows, typed by the caller. */
export async function rootQuery<Row extends object = Record<string, unknown>>(
  pod: { paths: { socket: string } },
  sql: string,
  values?: unknown[],
): Promise<Row[]> {
  const connection = await rootConnection(pod);
  try {
    const [rows] = await connection.query(sql, values);
    return rows as Row[];
  } finally {
    await connection.end();
  }
}
