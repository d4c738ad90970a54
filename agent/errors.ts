// One registry of every error the agent reports, each with a stable code (for
// alerts and docs) and a hint that tells the operator what to do next.
export const errorDefs = {
  CONFIG_INVALID: { code: 'MHA_CONFIG_INVALID', hint: 'fix the environment variables listed above and restart the agent' },
  POD_NAME_INVALID: { code: 'MHA_POD_NAME_INVALID', hint: 'set POD_NAME (Kubernetes: fieldRef metadata.name) to a StatefulSet pod name such as mysql-ha-0' },
  UNSUPPORTED_SERVER: { code: 'MHA_UNSUPPORTED_SERVER', hint: 'use MySQL 8.0.23 or later (8.4 LTS, 9.x) or MariaDB 10.6 or later' },
  MYSQL_QUERY_FAILED: { code: 'MHA_MYSQL_QUERY_FAILED', hint: 'see the MySQL error; the agent retries on its next observation' },
  MYSQLD_NOT_SUPERVISED: {
    code: 'MHA_MYSQLD_NOT_SUPERVISED',
    hint: 'start mysqld again; run it under a supervisor that restarts it on exit code 16 (the mysql-ha image entrypoint does)',
  },
  FILE_WRITE_FAILED: { code: 'MHA_FILE_WRITE_FAILED', hint: 'check that the directory exists and is writable by the agent' },
  USAGE: { code: 'MHA_USAGE', hint: 'run mysql-ha-agent --help' },
  SWITCHOVER_REFUSED: {
    code: 'MHA_SWITCHOVER_REFUSED',
    hint: 'fix what the reason names (or pick another candidate), then ask again; the primary kept serving',
  },
  LEASE_CHANGED: { code: 'MHA_LEASE_CHANGED', hint: 'nothing to do: another node changed the lease first; this agent decides again on its next tick' },
} as const;

export type ErrorName = keyof typeof errorDefs;

export class AgentError extends Error {
  readonly code: string;
  readonly hint: string;

  constructor(name: ErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = errorDefs[name].code;
    this.hint = errorDefs[name].hint;
  }

  /** One line for a terminal: what failed, its code, what to do. */
  describe(): string {
    return `${this.message}\n  code: ${this.code}\n  what to do: ${this.hint}`;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The innermost cause's message: fetch() says only "fetch failed"; its cause says ECONNREFUSED. */
export function rootMessageOf(error: unknown): string {
  return messageOf((error as { cause?: unknown }).cause ?? error);
}
