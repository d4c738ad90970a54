import { AgentError, messageOf } from '../errors.ts';
import type { MysqlObservation, ReplicaStatus } from '../loop/state.ts';
import type { Dialect } from './dialect/types.ts';
import { type LocalServer, mysqldGone } from './local-server.ts';

// Who can write through read_only changes rarely; looking it up once a minute is plenty.
const BYPASS_REFRESH_MS = 60_000;

/**
 * Reads the local mysqld's state. Never throws: an unreachable server or a failed query
 * is itself an observation. Three cheap statements per tick, none per HTTP request, all
 * within one status timeout (MYSQL_HA_STATUS_TIMEOUT_MS): they answer in milliseconds, and
 * one that takes longer is stuck behind a lock (a primary whose commits wait for a replica
 * that is gone), which the fence margin allows for.
 */
export class MysqlObserver {
  readonly #server: LocalServer;
  readonly #dialect: Dialect;
  /** The users whose '%' accounts may write through read_only by design: the agent and the people's administrator. */
  readonly #trustedUsers: [agent: string, admin: string];
  readonly #timeoutMs: number;
  #bypass: { at: number; accounts: string[] } | undefined;

  constructor(server: LocalServer, dialect: Dialect, trustedUsers: [agent: string, admin: string], timeoutMs: number) {
    this.#server = server;
    this.#dialect = dialect;
    this.#trustedUsers = trustedUsers;
    this.#timeoutMs = timeoutMs;
  }

  async observe(now: number): Promise<MysqlObservation> {
    let answeredWritable = false;
    const deadline = performance.now() + this.#timeoutMs;
    const query = (sql: string) => this.#server.query(sql, undefined, Math.max(1, Math.round(deadline - performance.now())));
    try {
      const [variables] = await query(this.#dialect.variablesQuery);
      if (!variables) throw new AgentError('MYSQL_QUERY_FAILED', `${this.#server.node}: the server variables query returned no row on ${this.#server.address}`);
      answeredWritable = !this.#dialect.parseVariables(variables).readOnly;
      const [replica] = await query(this.#dialect.replicaStatusQuery);
      const [binlog] = await query(this.#dialect.binlogStatusQuery);
      return {
        up: true,
        variables: this.#dialect.parseVariables(variables),
        replica: await this.#withApplierError(this.#dialect.parseReplicaStatus(replica)),
        binlog: this.#dialect.parseBinlogStatus(binlog),
        readOnlyBypass: await this.#readOnlyBypass(now),
      };
    } catch (error) {
      return { up: false, error: messageOf(error), ...(answeredWritable ? { answeredWritable } : {}), ...(mysqldGone(error) ? { gone: true } : {}) };
    }
  }

  /** Replaces "a worker failed, see performance_schema" by the worker's own error. */
  async #withApplierError(replica: ReplicaStatus | null): Promise<ReplicaStatus | null> {
    const query = this.#dialect.applierErrorQuery;
    if (replica === null || replica.lastSqlError === '' || query === null) return replica;
    const [row] = await this.#server.query(query);
    return row ? { ...replica, lastSqlError: String(row.error) } : replica;
  }

  async #readOnlyBypass(now: number): Promise<string[]> {
    const query = this.#dialect.readOnlyBypassQuery;
    if (query === null) return [];
    if (this.#bypass === undefined || now - this.#bypass.at >= BYPASS_REFRESH_MS) {
      const rows = await this.#server.query(query, this.#trustedUsers);
      this.#bypass = { at: now, accounts: rows.map((row) => String(row.account)) };
    }
    return this.#bypass.accounts;
  }
}
