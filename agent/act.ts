import { escape, escapeId } from 'mysql2';
import type { RunConfig } from './config.ts';
import type { Dialect } from './dialect/types.ts';
import type { LocalServer } from './mysql/local-server.ts';
import type { Action } from './state.ts';

// The same words on both flavours since MySQL 8.0.22 and MariaDB 10.5.
const STOP_REPLICA = 'STOP REPLICA';
const START_REPLICA = 'START REPLICA';
const START_IO_THREAD = 'START REPLICA IO_THREAD';

/** Carries out one decided action on the local mysqld. Throws on failure; the loop records it. */
export class Actuator {
  readonly #server: LocalServer;
  readonly #dialect: Dialect;
  readonly #config: RunConfig;

  constructor(server: LocalServer, dialect: Dialect, config: RunConfig) {
    this.#server = server;
    this.#dialect = dialect;
    this.#config = config;
  }

  async run(action: Action): Promise<void> {
    switch (action.kind) {
      case 'none':
        return;
      case 'setup-primary':
        return this.#setupPrimary();
      case 'fence':
        return this.#exec(this.#dialect.setReadOnly(true));
      case 'configure-replication': {
        await this.#exec([STOP_REPLICA]);
        const { sql, values } = this.#dialect.changeSource({
          host: action.source.host,
          port: this.#config.mysql.port,
          user: this.#config.replication.user,
          password: this.#config.replication.password,
        });
        await this.#server.query(sql, values);
        return this.#exec([START_REPLICA]);
      }
      case 'start-replication':
        return this.#exec([START_REPLICA]);
      case 'start-io-thread':
        return this.#exec([START_IO_THREAD]);
    }
  }

  /**
   * Accounts and database first need the node writable (super_read_only refuses even
   * CREATE USER). If any step fails the node is fenced again, so "writable" always
   * means "set up": /primary and /binlog-position rely on that.
   */
  async #setupPrimary(): Promise<void> {
    const { replication, app } = this.#config;
    const replicationAccount = `${escape(replication.user)}@'%'`;
    const appAccount = `${escape(app.user)}@'%'`;
    await this.#exec(this.#dialect.setReadOnly(false));
    try {
      await this.#exec([
        `CREATE DATABASE IF NOT EXISTS ${escapeId(app.database)}`,
        `CREATE USER IF NOT EXISTS ${replicationAccount} IDENTIFIED BY ${escape(replication.password)}`,
        `ALTER USER ${replicationAccount} IDENTIFIED BY ${escape(replication.password)}`,
        `GRANT REPLICATION SLAVE ON *.* TO ${replicationAccount}`,
        `CREATE USER IF NOT EXISTS ${appAccount} IDENTIFIED BY ${escape(app.password)}`,
        `ALTER USER ${appAccount} IDENTIFIED BY ${escape(app.password)}`,
        `GRANT ALL ON ${escapeId(app.database)}.* TO ${appAccount}`,
      ]);
    } catch (error) {
      await this.#exec(this.#dialect.setReadOnly(true)).catch(() => undefined);
      throw error;
    }
  }

  async #exec(statements: string[]): Promise<void> {
    for (const sql of statements) await this.#server.query(sql);
  }
}
