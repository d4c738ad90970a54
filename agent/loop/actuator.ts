import { setTimeout as sleep } from 'node:timers/promises';
import { escapeId, escape as escapeValue } from 'mysql2';
import type { Peer, RunConfig } from '../config.ts';
import type { LeaseKeeper } from '../coordination/lease-keeper.ts';
import { AgentError } from '../errors.ts';
import { watchClone } from '../mysql/clone-progress.ts';
import type { Dialect } from '../mysql/dialect/types.ts';
import type { LocalServer } from '../mysql/local-server.ts';
import { restartMysqld } from '../mysql/mysqld-restart.ts';
import type { StreamedCopy } from '../mysql/streamed-copy.ts';
import type { AccountPasswords, SecretPasswords } from '../pod/secret-passwords.ts';
import type { Clock } from './clock.ts';
import type { CopyProgress } from './snapshot.ts';
import type { Action, PasswordsChanged } from './state.ts';

// The same words on both flavours since MySQL 8.0.22 and MariaDB 10.5.
const STOP_REPLICA = 'STOP REPLICA';
const STOP_IO_THREAD = 'STOP REPLICA IO_THREAD';
const START_REPLICA = 'START REPLICA';
const START_IO_THREAD = 'START REPLICA IO_THREAD';
const RESET_REPLICA_ALL = 'RESET REPLICA ALL';
const SHOW_REPLICA_STATUS = 'SHOW REPLICA STATUS';
/** One catch-up step waits at most this long, so the lease is renewed in between. */
const CATCH_UP_STEP_SECONDS = 1;
/** A hand-over's candidate whose mysqld does not answer within this long is not reachable: the hand-over is refused. */
const CANDIDATE_CONNECT_TIMEOUT_MS = 3000;
/** A clone copies the whole data set; the loop waits for it (there is nothing else this node can do meanwhile). */
const CLONE_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** How often a running clone's progress is read for /status. */
const CLONE_PROGRESS_EVERY_MS = 500;
/** ER_RESTART_SERVER_FAILED: the clone is complete but no supervisor restarts mysqld; it shuts down instead. */
const ER_RESTART_SERVER_FAILED = 3707;

/** The SQL an action runs, on this node's mysqld or a peer's. */
export type SqlServer = Pick<LocalServer, 'query' | 'close'>;

export interface ActuatorOptions {
  server: SqlServer;
  dialect: Dialect;
  config: RunConfig;
  lease: Pick<LeaseKeeper, 'acquire' | 'release' | 'handOver' | 'observe'>;
  /** A connection to a peer's mysqld as the agent's account (the same on every node). */
  connectPeer: (peer: Peer) => SqlServer;
  /** A second session on this node's mysqld, beside `server` (which a clone keeps busy). */
  connectLocal: () => SqlServer;
  /** Tells the agent of `candidate` (the peer just handed the lease), then every other peer's, to look again now; never rejects. */
  nudge: (candidate: Peer | null) => Promise<void>;
  /** The replication and application passwords as the Secret has them now. */
  passwords: Pick<SecretPasswords, 'current'>;
  clock: Clock;
  /** Where the flavour has no clone: a copy streamed from the donor's agent (null: none possible here). */
  streamedCopy: Pick<StreamedCopy, 'copyFrom'> | null;
  /** A copy's progress (a streamed copy's, a clone's), for /status. */
  reportCopy: (progress: CopyProgress) => void;
}

/** How long each phase of an action took, in ms, for the log (a hand-over's: where its write gap went). */
export type ActionPhases = Record<string, number>;

/** Carries out one decided action. Throws on failure; the loop records it and decides again. */
export class Actuator {
  readonly #server: SqlServer;
  readonly #dialect: Dialect;
  readonly #config: RunConfig;
  readonly #lease: ActuatorOptions['lease'];
  readonly #connectPeer: ActuatorOptions['connectPeer'];
  readonly #connectLocal: ActuatorOptions['connectLocal'];
  readonly #nudge: ActuatorOptions['nudge'];
  readonly #passwords: ActuatorOptions['passwords'];
  readonly #clock: Clock;
  readonly #streamedCopy: ActuatorOptions['streamedCopy'];
  readonly #reportCopy: ActuatorOptions['reportCopy'];
  /** What this node last set on the accounts as primary, and gave its replication channel (null: nothing yet, since this agent started). */
  #accountPasswordsSet: AccountPasswords | null = null;
  #replicationPasswordConfigured: string | null = null;

  constructor(options: ActuatorOptions) {
    this.#server = options.server;
    this.#dialect = options.dialect;
    this.#config = options.config;
    this.#lease = options.lease;
    this.#connectPeer = options.connectPeer;
    this.#connectLocal = options.connectLocal;
    this.#nudge = options.nudge;
    this.#passwords = options.passwords;
    this.#clock = options.clock;
    this.#streamedCopy = options.streamedCopy;
    this.#reportCopy = options.reportCopy;
  }

  /** Where the Secret's passwords differ from what this node last used: the loop observes it, decide acts on it. */
  passwordsChanged(): PasswordsChanged {
    const now = this.#passwords.current();
    const set = this.#accountPasswordsSet;
    return {
      accounts: set === null || set.replication !== now.replication || set.app !== now.app,
      replication: this.#replicationPasswordConfigured !== now.replication,
    };
  }

  async run(action: Action): Promise<ActionPhases | undefined> {
    // Only a hand-over reports its phases: its write gap is what users measure.
    if (action.kind === 'hand-over') return this.#handOver(action.candidate, action.timeoutMs);
    await this.#carryOut(action);
    return undefined;
  }

  async #carryOut(action: Exclude<Action, { kind: 'hand-over' }>): Promise<void> {
    switch (action.kind) {
      case 'none':
        return;
      case 'acquire-lease':
        return this.#lease.acquire(action.expectedVersion, action.reason);
      case 'nudge-peers':
        return this.#nudge(null);
      case 'release-lease':
        await this.#lease.release();
        // The lease is free now: the replicas look at once instead of at their next tick.
        return this.#nudge(null);
      case 'step-down':
        await this.stopWrites();
        await this.#lease.release();
        return this.#nudge(null);
      case 'fence':
        return this.fence();
      case 'catch-up':
        return this.#catchUp();
      case 'promote':
        await this.#exec([STOP_REPLICA, RESET_REPLICA_ALL]);
        return this.#setupPrimary(action.semiSyncAcks);
      case 'setup-primary':
        return this.#setupPrimary(action.semiSyncAcks);
      case 'set-semi-sync-acks':
        return this.#exec(this.#dialect.setSemiSyncAcks(action.count));
      case 'rotate-passwords': {
        const passwords = this.#passwords.current();
        await this.#exec(this.#passwordStatements(passwords));
        this.#accountPasswordsSet = passwords;
        return;
      }
      case 'configure-replication': {
        await this.#exec([STOP_REPLICA]);
        const { replication: password } = this.#passwords.current();
        const { sql, values } = this.#dialect.changeSource({
          host: action.source.host,
          port: this.#config.mysql.port,
          user: this.#config.replication.user,
          password,
          caFile: this.#caFile,
        });
        await this.#server.query(sql, values);
        this.#replicationPasswordConfigured = password;
        return this.#exec([...this.#dialect.alignReplicaPosition, START_REPLICA]);
      }
      case 'rebuild':
        return this.#rebuild(action.donor);
      case 'restart-mysqld':
        // The checks have failed since this was decided: HAProxy sends no new reads once it has seen that.
        await sleep(this.#config.timings.drainMs);
        return restartMysqld(this.#config.pod.name, this.#server);
      case 'start-replication':
        return this.#exec([STOP_REPLICA, ...this.#dialect.alignReplicaPosition, START_REPLICA]);
      case 'start-io-thread':
        return this.#exec([START_IO_THREAD]);
    }
  }

  /**
   * Planned switchover: stop writes here, read what this node executed (after the fence, so
   * nothing can follow it), wait until the candidate's own mysqld has applied all of it (it
   * answers the moment it has, where its agent's /status lags by up to a tick), then hand it
   * the lease by compare-and-set. The candidate promotes itself; this node then follows it.
   * The semi-sync source is turned off once the lease has moved (decide: replica-demoting).
   * If the candidate does not catch up in time nothing moves, and the next tick serves again.
   */
  async #handOver(candidate: Peer, timeoutMs: number): Promise<ActionPhases> {
    const self = this.#config.pod.name;
    const started = this.#clock.now();
    const peer = this.#connectPeer(candidate);
    let writesStopped: number;
    let connected: number;
    try {
      // Connected while writes still flow: the connection (DNS, TLS, authentication) stays out of
      // the write gap, and a candidate that cannot be reached refuses the hand-over before anything stopped.
      await peer.query('SELECT 1', undefined, CANDIDATE_CONNECT_TIMEOUT_MS);
      connected = this.#clock.now();
      await this.stopWrites();
      writesStopped = this.#clock.now();
      const [row] = await this.#server.query(this.#dialect.variablesQuery);
      if (!row) throw new AgentError('MYSQL_QUERY_FAILED', `${self}: the server variables query returned no row`);
      const executed = this.#dialect.parseVariables(row).gtidExecuted;
      const deadline = writesStopped + timeoutMs;
      for (;;) {
        const { sql, values } = this.#dialect.waitForGtids(executed, CATCH_UP_STEP_SECONDS);
        const [answer] = await peer.query(sql, values, (CATCH_UP_STEP_SECONDS + 2) * 1000);
        if (Number(answer?.applied) === 1) break;
        if (this.#clock.now() > deadline) {
          throw new AgentError('SWITCHOVER_REFUSED', `${candidate.name} did not catch up within ${timeoutMs / 1000} s; ${self} stays primary`);
        }
        // The lease stays renewed while we wait: no tick runs during an action.
        await this.#lease.observe(true);
      }
    } finally {
      await peer.close();
    }
    const caughtUp = this.#clock.now();
    await this.#lease.handOver(candidate.name);
    const handedOver = this.#clock.now();
    // The candidate promotes itself, and the other replicas follow it, as soon as their loops see
    // the lease: now, not on their next ticks.
    await this.#nudge(candidate);
    const ms = (from: number, to: number) => Math.round(to - from);
    return {
      connectMs: ms(started, connected),
      stopWritesMs: ms(connected, writesStopped),
      catchUpMs: ms(writesStopped, caughtUp),
      leaseMs: ms(caughtUp, handedOver),
      nudgeMs: ms(handedOver, this.#clock.now()),
    };
  }

  /**
   * Stops client writes, then turns the semi-sync source off: a node that is no longer
   * primary must not wait for acknowledgements when it replicates.
   */
  async fence(): Promise<void> {
    await this.stopWrites();
    await this.#exec([this.#dialect.setSemiSyncSource(false)]);
  }

  /**
   * Ends client sessions first (a commit waiting for a semi-sync acknowledgement would
   * otherwise hold up the read-only switch), then read-only, then ends the sessions that
   * raced it. Quick, where turning the semi-sync source off takes about a second on MySQL.
   */
  async stopWrites(): Promise<void> {
    await this.#killClientSessions();
    const timeoutMs = this.#config.timings.statusTimeoutMs;
    try {
      for (const sql of this.#dialect.setReadOnly(true)) await this.#server.query(sql, undefined, timeoutMs);
    } catch (error) {
      if (!timedOut(error)) throw error;
      // Read-only waits for commits in flight, and a commit waiting for a replica's
      // acknowledgement that cannot come (a primary cut off from every replica; seen with
      // MySQL's super_read_only) holds it past the lease's expiry. A server that is down takes
      // no writes: its supervisor starts it again read-only (the cnf), and what those commits
      // left is discarded when it rejoins (clone, or MariaDB's truncation at restart).
      await this.#server.query('SHUTDOWN', undefined, timeoutMs).catch(() => undefined);
      throw new AgentError(
        'MYSQL_FENCED_BY_SHUTDOWN',
        `${this.#config.pod.name}: read-only did not take effect within ${timeoutMs} ms, so mysqld was shut down`,
        {
          cause: error,
          hintInMessage: true,
        },
      );
    }
    await this.#killClientSessions();
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
   * A semi-sync source still on from an earlier term (a primary stopped or restarted before it
   * was demoted) is turned off first: no replica follows this node before it serves, so those
   * writes would wait for an acknowledgement forever.
   */
  async #setupPrimary(semiSyncAcks: number): Promise<void> {
    const { app, lossless } = this.#config;
    const passwords = this.#passwords.current();
    const [row] = await this.#server.query(this.#dialect.variablesQuery);
    if (row && this.#dialect.parseVariables(row).semiSyncSource) await this.#exec([this.#dialect.setSemiSyncSource(false)]);
    await this.#exec(this.#dialect.setReadOnly(false));
    try {
      await this.#exec([
        `CREATE DATABASE IF NOT EXISTS ${escapeId(app.database)}`,
        `CREATE USER IF NOT EXISTS ${this.#replicationAccount} IDENTIFIED BY ${escapeValue(passwords.replication)}`,
        `CREATE USER IF NOT EXISTS ${this.#appAccount} IDENTIFIED BY ${escapeValue(passwords.app)}`,
        ...this.#passwordStatements(passwords),
        `GRANT REPLICATION SLAVE ON *.* TO ${this.#replicationAccount}`,
        `GRANT ALL ON ${escapeId(app.database)}.* TO ${this.#appAccount}`,
        ...(lossless ? this.#dialect.setSemiSyncAcks(semiSyncAcks) : []),
        this.#dialect.setSemiSyncSource(lossless),
      ]);
    } catch (error) {
      await this.fence().catch(() => undefined);
      throw error;
    }
    this.#accountPasswordsSet = passwords;
    // The replicas poll this node's /binlog-position with a growing backoff: ask them now.
    // In lossless mode the first commits wait for one of them to follow.
    await this.#nudge(null);
  }

  /**
   * Replaces this node's data with the donor's (a clone, or a streamed copy). mysqld then
   * restarts with the donor's data and its own identity, and the loop makes it follow the primary.
   */
  async #rebuild(donor: Peer): Promise<void> {
    const config = this.#config;
    const clone = this.#dialect.cloneFrom;
    // decide() only asks for a rebuild where a copy can be made.
    if (clone === null && this.#streamedCopy === null)
      throw new AgentError('CANNOT_CLONE', `${config.pod.name}: ${this.#dialect.flavor} cannot copy ${donor.name}`);
    await this.#exec([STOP_REPLICA]);
    // The copy brings the donor's replication channel (a replica's own CA file, say), not one this
    // agent configured: once it fails to connect, the loop configures it afresh (decide: the
    // replication password is not the one this agent set up).
    this.#replicationPasswordConfigured = null;
    if (clone === null) return this.#streamedCopy!.copyFrom(donor, this.#reportCopy);
    const statements = clone({
      host: donor.host,
      port: config.mysql.port,
      user: config.agent.user,
      // As the Secret has it now: the donor's account has it once its pod restarted (its init SQL).
      password: this.#passwords.current().agent,
      caFile: this.#caFile,
    });
    this.#reportCopy({ stage: 'receiving', donor: donor.name, bytes: 0 });
    const progressQuery = this.#dialect.cloneProgressQuery;
    const watch = progressQuery === null ? null : watchClone(this.#connectLocal(), progressQuery, donor.name, this.#reportCopy, CLONE_PROGRESS_EVERY_MS);
    try {
      for (const { sql, values } of statements) await this.#server.query(sql, values, CLONE_TIMEOUT_MS);
    } catch (error) {
      if (errnoOf(error) === ER_RESTART_SERVER_FAILED) {
        throw new AgentError(
          'MYSQLD_NOT_SUPERVISED',
          `${config.pod.name}: the clone from ${donor.name} is complete, but mysqld shut down instead of restarting (no supervisor set MYSQLD_PARENT_PID)`,
        );
      }
      // Nothing was replaced (or the server is gone): read-only again either way.
      await this.#exec(this.#dialect.setReadOnly(true)).catch(() => undefined);
      throw error;
    } finally {
      await watch?.stop();
    }
  }

  get #replicationAccount(): string {
    return `${escapeValue(this.#config.replication.user)}@'%'`;
  }

  get #appAccount(): string {
    return `${escapeValue(this.#config.app.user)}@'%'`;
  }

  /**
   * The accounts' passwords as the Secret has them (at every setup, so they follow a rotated
   * Secret): written on the primary and binlogged, so every replica gets them.
   */
  #passwordStatements(passwords: AccountPasswords): string[] {
    return [
      // With certificates the replication password never crosses the network in clear.
      `ALTER USER ${this.#replicationAccount} IDENTIFIED BY ${escapeValue(passwords.replication)} REQUIRE ${this.#caFile ? 'SSL' : 'NONE'}`,
      `ALTER USER ${this.#appAccount} IDENTIFIED BY ${escapeValue(passwords.app)}`,
    ];
  }

  get #caFile(): string | null {
    return this.#config.tls.files?.caFile ?? null;
  }

  async #exec(statements: string[]): Promise<void> {
    for (const sql of statements) await this.#server.query(sql);
  }
}

/** mysql2's code for a statement that got no answer within its timeout. */
function timedOut(error: unknown): boolean {
  return (error as { cause?: { code?: unknown } }).cause?.code === 'PROTOCOL_SEQUENCE_TIMEOUT';
}

function errnoOf(error: unknown): number | undefined {
  const cause = (error as { cause?: { errno?: unknown } }).cause;
  return typeof cause?.errno === 'number' ? cause.errno : undefined;
}
