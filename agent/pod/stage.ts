import { escape as escapeValue } from 'mysql2';
import type { Credentials, ServerTls, StageConfig } from '../config.ts';
import { dialectForFlavor } from '../mysql/dialect/index.ts';

export const CNF_FILE = 'mysql-ha.cnf';
export const INIT_SQL_FILE = 'agent-init.sql';

export interface StagedFiles {
  cnf: string;
  initSql: string;
}

/** An account for any host, as SQL: 'user'@'%'. */
function anyHostAccount(user: string): string {
  return `${escapeValue(user)}@'%'`;
}

/**
 * A local account of this node (the same on every node, each from its own init SQL): created,
 * its password set again at every start (so it follows a rotated Secret), then its grants.
 */
function localAccountSql({ user, password }: Credentials, grants: (account: string) => string[], require = 'NONE'): string[] {
  const account = anyHostAccount(user);
  return [
    `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${escapeValue(password)};`,
    `ALTER USER ${account} IDENTIFIED BY ${escapeValue(password)} REQUIRE ${require};`,
    ...grants(account).map((grant) => `${grant};`),
  ];
}

/**
 * The people's administrator: every privilege. MySQL's super_read_only holds it back until a
 * person lifts it for a repair; on MariaDB ALL includes READ_ONLY ADMIN, since repairing a
 * replica (a conflicting row, gtid_slave_pos) writes on a read-only node. Never an application's.
 */
const adminGrants = (account: string) => [`GRANT ALL ON *.* TO ${account} WITH GRANT OPTION`];

/** The certificate mysqld presents to replicas, peers' agents and clients (the same Secret on every pod). */
function tlsLines({ files, requireSecureTransport }: ServerTls): string[] {
  if (!files) return [];
  return [
    `ssl_ca = ${files.caFile}`,
    `ssl_cert = ${files.certFile}`,
    `ssl_key = ${files.keyFile}`,
    ...(requireSecureTransport ? ['require_secure_transport = ON'] : []),
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
    ...tlsLines(config.tls),
    '',
  ].join('\n');

  const initSql = [
    `-- Written by mysql-ha-agent stage for ${config.pod.name}; mysqld runs it at every start (init_file).`,
    '-- Local setup only: kept out of the binary log so it never becomes an errant GTID on a replica.',
    'SET SESSION sql_log_bin = 0;',
    // With certificates, the agent's password (which clones and hand-overs send to peers) never crosses the network in clear.
    ...localAccountSql(config.agent, (account) => dialect.agentGrants(account, config.appDatabase), config.tls.files ? 'SSL' : 'NONE'),
    // Nobody logs in as root, over TCP or the socket, with or without a password: people use
    // the administrator below, the agent its own account.
    "ALTER USER IF EXISTS 'root'@'localhost' ACCOUNT LOCK;",
    "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';",
    ...(config.admin ? localAccountSql(config.admin, adminGrants) : []),
    '',
  ].join('\n');
  return { cnf, initSql };
}
