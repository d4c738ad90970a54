import { AgentError, messageOf } from '../errors.ts';
import type { MysqlObservation, ReplicaStatus } from '../loop/state.ts';
import type { Dialect } from './dialect/types.ts';
import type { LocalServer } from './local-server.ts';

// Who can write through read_only changes rarely; looking it up once a minute is plenty.
const BYPASS_REFRESH_MS = 60_000;

/**
 * Reads the local mysqld's state. Never throws: an unreachable server or a failed query
 * is itself an observation. Three cheap statements per tick, none per HTTP request.
 */
export class MysqlObserver {
  readonly #server: LocalServer;
  readonly #dialect: Dialect;
  readonly #agentUser: string;
  #bypass: { at: number; accounts: string[] } | undefined;

  constructor(server: LocalServer, dialect: Dialect, agentUser: string) {
    this.#server = server;
    this.#dialect = dialect;
    this.#agentUser = agentUser;
  }

  async observe(now: number): Promise<MysqlObservation> {
    try {
      const [variables] = await this.#server.query(this.#dialect.variablesQuery);
      const [replica] = await this.#server.query(this.#dialect.replicaStatusQuery);
      const [binlog] = await this.#server.query(this.#dialect.binlogStatusQuery);
      if (!variables) throw new AgentError('MYSQL_QUERY_FAILED', `${this.#server.node}: the server variables query returned no row on ${this.#server.address}`);
      return {
        up: true,
        variables: this.#dialect.parseVariables(variables),
        replica: await this.#withApplierError(this.#dialect.parseReplicaStatus(replica)),
        binlog: this.#dialect.parseBinlogStatus(binlog),
        readOnlyBypass: await this.#readOnlyBypass(now),
      };
    } catch (error) {
      return { up: false, error: messageOf(error) };
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
      const rows = await this.#server.query(query, [this.#agentUser]);
      this.#bypass = { at: now, accounts: rows.map((row) => String(row.account)) };
    }
    return this.#bypass.accounts;
  }
}
