import { escape as escapeValue } from 'mysql2';
import type { StageConfig } from '../config.ts';
import { dialectForFlavor } from '../mysql/dialect/index.ts';

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
    '',
  ].join('\n');
  return { cnf, initSql };
}
