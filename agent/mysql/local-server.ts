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
    this.#connection ??= createConnection({
      host: this.#options.host,
      port: this.#options.port,
      user: this.#options.user,
      password: this.#options.password,
      connectTimeout: this.#options.connectTimeoutMs ?? 3000,
      supportBigNumbers: true,
      multipleStatements: false,
    }).then((connection) => {
      connection.on('error', () => this.#drop());
      return connection;
    });
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

  #drop(): void {
    const pending = this.#connection;
    this.#connection = undefined;
    pending?.then((connection) => connection.destroy()).catch(() => undefined);
  }
}
