import { escape as escapeValue } from 'mysql2';
import type { Credentials, StageConfig } from '../config.ts';
import { dialectForFlavor } from '../mysql/dialect/index.ts';
import type { Dialect } from '../mysql/dialect/types.ts';

export const CNF_FILE = 'mysql-ha.cnf';
export const INIT_SQL_FILE = 'agent-init.sql';

export interface StagedFiles {
  cnf: string;
  initSql: string;
}

/** The account the agent logs in with, as SQL: 'user'@'%'. */
export function agentAccount(user: string): string {
  return `${escapeValue(user)}@'%'`;
}

/** The administrator for people, on this node only (the same on every node, each from its own init SQL). */
function adminAccountSql(admin: Credentials, dialect: Dialect): string[] {
  const account = `${escapeValue(admin.user)}@'%'`;
  return [
    `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${escapeValue(admin.password)}`,
    // Follows a rotated Secret on the next restart.
    `ALTER USER ${account} IDENTIFIED BY ${escapeValue(admin.password)}`,
    ...dialect.adminGrants(account),
  ];
}

/**
 * Renders this pod's config and first-boot SQL. Pure: the same config always gives the
 * same bytes, so re-running `stage` on a restarted pod changes nothing.
 */
export function renderStagedFiles(config: StageConfig, initDir: string): StagedFiles {
  const dialect = dialectForFlavor(config.flavor);
  const initFile = `${initDir.replace(/\/+$/, '')}/${INIT_SQL_FILE}`;
  const node = { serverId: config.serverId, reportHost: config.reportHost, initFile };
  const cnf = [
    `# Written by mysql-ha-agent stage for ${config.pod.name} (${config.flavor}); rewritten at every pod start.`,
    '[mysqld]',
    `server_id = ${node.serverId}`,
    `report_host = ${node.reportHost}`,
    'log_bin = mysql-bin',
    // Fixed names: relay logs named after the host would be lost if the host name changed.
    'relay_log = relay-bin',
    'relay_log_recovery = ON',
    ...dialect.cnfLines(node),
    `init_file = ${initFile}`,
    // Accounts match by address only: no DNS lookup per connection, and no account that a
    // changed reverse record (or root@<hostname>) could open.
    'skip_name_resolve = ON',
    '',
  ].join('\n');

  const account = agentAccount(config.agent.user);
  const initSql = [
    `-- Written by mysql-ha-agent stage for ${config.pod.name}; mysqld runs it at every start (init_file).`,
    '-- Local setup only: kept out of the binary log so it never becomes an errant GTID on a replica.',
    'SET SESSION sql_log_bin = 0;',
    `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${escapeValue(config.agent.password)};`,
    // Follows a rotated Secret on the next restart.
    `ALTER USER ${account} IDENTIFIED BY ${escapeValue(config.agent.password)};`,
    ...dialect.agentGrants(account, config.appDatabase).map((grant) => `${grant};`),
    // Nobody logs in as root, over TCP or the socket, with or without a password: people use
    // the administrator below, the agent its own account.
    "ALTER USER IF EXISTS 'root'@'localhost' ACCOUNT LOCK;",
    "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';",
    ...(config.admin ? adminAccountSql(config.admin, dialect).map((statement) => `${statement};`) : []),
    '',
  ].join('\n');
  return { cnf, initSql };
}
