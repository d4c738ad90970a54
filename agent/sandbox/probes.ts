// Looking at a sandbox from the outside, shared by the sandbox itself, the tests and the
// benchmark: wait until something holds, whether an address accepts TCP, root's SQL.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Connection, createConnection } from 'mysql2/promise';
import { DEFAULT_ADMIN_USER } from '../config.ts';
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

/** A pod's server as its administrator sees it: the socket, and the administrator's password (root is locked). */
export interface AdminReachable {
  readonly paths: { socket: string };
  readonly adminPassword: string;
}

/** The administrator over the pod's own socket: the view of a person, independent of the agent. */
export function adminConnection(pod: AdminReachable): Promise<Connection> {
  return createConnection({ socketPath: pod.paths.socket, user: DEFAULT_ADMIN_USER, password: pod.adminPassword });
}

/** One statement as the administrator over the pod's socket, on a connection of its own; its rows, typed by the caller. */
export async function adminQuery<Row extends object = Record<string, unknown>>(pod: AdminReachable, sql: string, values?: unknown[]): Promise<Row[]> {
  const connection = await adminConnection(pod);
  try {
    const [rows] = await connection.query(sql, values);
    return rows as Row[];
  } finally {
    await connection.end();
  }
}

/** The server's version, as its administrator reads it. */
export async function serverVersion(pod: AdminReachable): Promise<string> {
  const [row] = await adminQuery<{ version: string }>(pod, 'SELECT VERSION() AS version');
  return String(row?.version);
}
