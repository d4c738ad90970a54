import { escape, escapeId } from 'mysql2';
import type { RunConfig } from './config.ts';
import type { LeaseKeeper } from './coordination/lease-keeper.ts';
import type { Dialect } from './dialect/types.ts';
import type { LocalServer } from './mysql/local-server.ts';
import type { Action } from './state.ts';

// The same words on both flavours since MySQL 8.0.22 and MariaDB 10.5.
const STOP_REPLICA = 'STOP REPLICA';
const STOP_IO_THREAD = 'STOP REPLICA IO_THREAD';
const START_REPLICA = 'START REPLICA';
const START_IO_THREAD = 'START REPLICA IO_THREAD';
const RESET_REPLICA_ALL = 'RESET REPLICA ALL';
const SHOW_REPLICA_STATUS = 'SHOW REPLICA STATUS';
/** One catch-up step waits at most this long, so the loop keeps renewing the lease meanwhile. */
const CATCH_UP_STEP_SECONDS = 1;

export interface ActuatorOptions {
  server: LocalServer;
  dialect: Dialect;
  config: RunConfig;
  lease: LeaseKeeper;
}

/** Carries out one decided action. Throws on failure; the loop records it and decides again. */
export class Actuator {
  readonly #server: LocalServer;
  readonly #dialect: Dialect;
  readonly #config: RunConfig;
  readonly #lease: LeaseKeeper;

  constructor(options: ActuatorOptions) {
    this.#server = options.server;
    this.#dialect = options.dialect;
    this.#config = options.config;
    this.#lease = options.lease;
  }

  async run(action: Action): Promise<void> {
    switch (action.kind) {
      case 'none':
        return;
      case 'acquire-lease':
        return this.#lease.acquire(action.expectedVersion);
      case 'release-lease':
        return this.#lease.release();
      case 'fence':
        return this.fence();
      case 'catch-up':
        return this.#catchUp();
      case 'promote':
        await this.#exec([STOP_REPLICA, RESET_REPLICA_ALL]);
        return this.#setupPrimary();
      case 'setup-primary':
        return this.#setupPrimary();
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
   * Stops client writes: ends client sessions first (a commit waiting for a semi-sync
   * acknowledgement would otherwise hold up the read-only switch), then read-only, then
   * the semi-sync source off (nothing can commit any more, so nothing is acknowledged
   * without a replica having it).
   */
  async fence(): Promise<void> {
    await this.#killClientSessions();
    await this.#exec(this.#dialect.setReadOnly(true));
    await this.#killClientSessions();
    await this.#exec([this.#dialect.setSemiSyncSource(false)]);
  }

  async #killClientSessions(): Promise<void> {
    const rows = await this.#server.query(
      "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN (?, ?, 'system user', 'event_scheduler') " +
        "AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')",
      [this.#config.agent.user, this.#config.replication.user],
    );
    for (const { id } of rows) {
      // A session may end by itself meanwhile: "Unknown thread id" is fine.
      await this.#server.query(`KILL ${Number(id)}`).catch(() => undefined);
    }
  }

  /** Stops receiving and applies what was received, a step at a time (the loop renews the lease in between). */
  async #catchUp(): Promise<void> {
    await this.#exec([STOP_IO_THREAD]);
    const [status] = await this.#server.query(SHOW_REPLICA_STATUS);
    const retrieved = this.#dialect.parseReplicaStatus(status)?.retrievedGtids ?? '';
    if (retrieved === '') return;
    const { sql, values } = this.#dialect.waitForGtids(retrieved, CATCH_UP_STEP_SECONDS);
    await this.#server.query(sql, values);
  }

  /**
   * Accounts and database first need the node writable (super_read_only refuses even
   * CREATE USER), and are written before semi-sync is on: on a new cluster no replica can
   * acknowledge before the replication account exists. /primary answers 200 only once
   * semi-sync is on. If any step fails the node is fenced again.
   */
  async #setupPrimary(): Promise<void> {
    const { replication, app, lossless } = this.#config;
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
        this.#dialect.setSemiSyncSource(lossless),
      ]);
    } catch (error) {
      await this.fence().catch(() => undefined);
      throw error;
    }
  }

  async #exec(statements: string[]): Promise<void> {
    for (const sql of statements) await this.#server.query(sql);
  }
}
