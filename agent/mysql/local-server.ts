import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import { type Connection, createConnection } from 'mysql2/promise';
import { AgentError, messageOf } from '../errors.ts';

export interface LocalServerOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Names the node in errors, e.g. "mysql-ha-1". */
  node: string;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /**
   * TLS, when certificates are configured. Verified: the server's certificate must be signed by
   * the CA in `caFile` (read at each connect, so a renewed Secret is followed) and name `host`.
   * Unverified: encrypted only, for the pod's own mysqld on loopback, which nobody outside the
   * pod can intercept and whose certificate need not name 127.0.0.1 (nor match a CA the Secret
   * has just replaced). Without it the connection is plain.
   */
  tls?: { verify: true; caFile: string } | { verify: false } | undefined;
  /** Called when the open connection is lost (mysqld stopped or killed): the loop looks again at once. */
  onConnectionLost?: () => void;
}

/** Errors of a connection attempt that found no server at all: nothing listens on the port (or socket). */
const NOTHING_LISTENING = new Set(['ECONNREFUSED', 'ENOENT']);

/**
 * Whether a failed query found mysqld's process gone (connection refused), as opposed to a
 * server that answers slowly, is out of connections or refuses the account.
 */
export function mysqldGone(error: unknown): boolean {
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    if (NOTHING_LISTENING.has(String((cause as { code?: unknown }).code))) return true;
  }
  return false;
}

type Row = Record<string, unknown>;

/**
 * The agent's one connection to its own mysqld. Reconnects lazily: a query after a
 * failure opens a new connection, so a restarted mysqld is picked up on the next tick.
 */
export class LocalServer {
  readonly #options: LocalServerOptions;
  #connection: Promise<Connection> | undefined;

  constructor(options: LocalServerOptions) {
    this.#options = options;
  }

  /** The node it belongs to, for messages. */
  get node(): string {
    return this.#options.node;
  }

  get address(): string {
    return `${this.#options.host}:${this.#options.port}`;
  }

  /** `timeoutMs` overrides the usual query timeout, for the rare statement that runs long (a clone). */
  async query(sql: string, values?: unknown[], timeoutMs = this.#options.queryTimeoutMs ?? 5000): Promise<Row[]> {
    const connection = await this.#connect();
    try {
      const [rows] = await connection.query({ sql, values, timeout: timeoutMs });
      return Array.isArray(rows) ? (rows as Row[]) : [];
    } catch (error) {
      // Any failure may have left the session unusable (killed, timed out): start afresh.
      this.#drop();
      throw new AgentError('MYSQL_QUERY_FAILED', `${this.#options.node}: "${sql.split(' ', 4).join(' ')}…" failed on ${this.address}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    const pending = this.#connection;
    this.#connection = undefined;
    if (pending) await pending.then((connection) => connection.end()).catch(() => undefined);
  }

  #connect(): Promise<Connection> {
    if (this.#connection === undefined) {
      const opening: Promise<Connection> = this.#open().then((connection) => {
        const lost = () => {
          // Not a connection this agent closed, or one already replaced.
          if (this.#connection !== opening) return;
          this.#drop();
          this.#options.onConnectionLost?.();
        };
        connection.on('error', lost);
        connection.on('end', lost);
        return connection;
      });
      this.#connection = opening;
    }
    const pending = this.#connection;
    pending.catch(() => {
      if (this.#connection === pending) this.#connection = undefined;
    });
    return pending.catch((error: unknown) => {
      throw new AgentError(
        'MYSQL_QUERY_FAILED',
        `${this.#options.node}: cannot connect to mysqld at ${this.address} as ${this.#options.user}: ${messageOf(error)}`,
        { cause: error },
      );
    });
  }

  async #open(): Promise<Connection> {
    const { host, port, user, password, tls } = this.#options;
    // mysql2 checks a DNS name before it authenticates; an address it cannot (Node is asked
    // about "localhost" instead), so an address is checked here, before the first statement.
    const checkAddress = tls?.verify === true && isIP(host) !== 0;
    const connection = await createConnection({
      host,
      port,
      user,
      password,
      connectTimeout: this.#options.connectTimeoutMs ?? 3000,
      supportBigNumbers: true,
      multipleStatements: false,
      ...(tls && {
        ssl: tls.verify ? { ca: await readFile(tls.caFile, 'utf8'), verifyIdentity: !checkAddress } : { rejectUnauthorized: false },
      }),
    });
    if (checkAddress) {
      const stream = (connection as unknown as { connection: { stream: TLSSocket } }).connection.stream;
      const mismatch = checkServerIdentity(host, stream.getPeerCertificate());
      if (mismatch) {
        connection.destroy();
        throw mismatch;
      }
    }
    return connection;
  }

  #drop(): void {
    const pending = this.#connection;
    this.#connection = undefined;
    pending?.then((connection) => connection.destroy()).catch(() => undefined);
  }
}
