import { countMariadbGtids, mariadbGtidOriginatesFrom, mergeMariadbStates, subtractMariadbGtids } from '../gtid.ts';
import { COPY_DIR_NAME } from '../mariadb-backup.ts';
import { asBoolean, asNumberOrNull, asString } from './rows.ts';
import type { Dialect, ReplicationSource } from './types.ts';

// READ_ONLY ADMIN's bit in mysql.global_priv's access mask (MariaDB 10.11 privilege.h).
// ALL PRIVILEGES includes it, and any account holding it writes through read_only.
const READ_ONLY_ADMIN_BIT = 2 ** 33;

// The IO error when the source cannot send what a replica asks for (purged logs among other causes).
const ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236;

/**
 * MariaDB 10.6+: GTIDs are always on (domain-server-seq), replicas position with
 * MASTER_USE_GTID=slave_pos, and there is no super_read_only: read_only is the fence,
 * which accounts holding READ_ONLY ADMIN bypass.
 */
/** MariaDB has no server UUID; its server_id names the writer in GTIDs (`domain-server_id-seq`). */
const serverIdentity = (serverId: number) => `server-id-${serverId}`;

export function mariadbDialect(): Dialect {
  return {
    flavor: 'mariadb',
    cnfLines: () => [
      'log_slave_updates = ON',
      'skip_slave_start = ON',
      'read_only = ON',
      // Refuse out-of-order GTIDs instead of silently diverging.
      'gtid_strict_mode = ON',
      'binlog_format = ROW',
      // Apply in parallel (MariaDB commits in the primary's order all the same): one transaction at
      // a time, a replica fell 6-7 s behind 4 writers here, and a failover first applies that backlog.
      'slave_parallel_threads = 4',
      'slave_parallel_mode = optimistic',
      // Semi-sync is built in: every node acknowledges as a replica; only the primary turns
      // the source side on. AFTER_SYNC and the longest wait: never fall back to asynchronous silently.
      'rpl_semi_sync_slave_enabled = ON',
      // Start every node in the replica role: then crash recovery truncates from the binlog what
      // a crashed primary never got acknowledged (with AFTER_SYNC it is prepared, not committed),
      // instead of committing it. (MariaDB 10.6.19 / 10.11.9 and later; loose- for older ones.)
      'loose-init_rpl_role = SLAVE',
      'rpl_semi_sync_master_wait_point = AFTER_SYNC',
      'rpl_semi_sync_master_timeout = 4294967295',
      // A copy being received for a reinit, not a database (agent/mysql/streamed-copy.ts).
      `ignore_db_dirs = ${COPY_DIR_NAME}`,
    ],
    agentGrants: (account, appDatabase) => [
      `GRANT REPLICATION SLAVE ON *.* TO ${account} WITH GRANT OPTION`,
      // READ_ONLY ADMIN is what SET GLOBAL read_only requires; it lets the agent itself write through read_only.
      // REPLICATION MASTER ADMIN: the semi-sync source switch; PROCESS and CONNECTION ADMIN: to end client sessions when fencing.
      // RELOAD: RESET REPLICA ALL when a replica is promoted.
      `GRANT BINLOG MONITOR, SLAVE MONITOR, CREATE USER, RELOAD, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, READ_ONLY ADMIN, PROCESS, CONNECTION ADMIN ON *.* TO ${account}`,
      // LOCK TABLES: mariadb-backup as a reinit's donor (with RELOAD, PROCESS, BINLOG MONITOR above).
      // BINLOG ADMIN: a recipient sets its binlog state from the copy's (SET GLOBAL gtid_binlog_state).
      `GRANT LOCK TABLES, BINLOG ADMIN ON *.* TO ${account}`,
      // SHUTDOWN: the fence of last resort, when read-only cannot take effect in time; a recipient's restart on a copy.
      `GRANT SHUTDOWN ON *.* TO ${account}`,
      // To list the accounts that bypass read_only (shown as a warning in /status).
      `GRANT SELECT ON mysql.global_priv TO ${account}`,
      `GRANT ALL ON \`${appDatabase}\`.* TO ${account} WITH GRANT OPTION`,
    ],
    variablesQuery:
      'SELECT @@server_id AS serverId, @@read_only AS readOnly, @@gtid_binlog_state AS gtidExecuted, @@rpl_semi_sync_master_enabled AS semiSyncSource, ' +
      "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_WAIT_SESSIONS') AS semiSyncWaiting",
    parseVariables: (row) => ({
      serverId: Number(row.serverId),
      // MariaDB has no server UUID; its GTIDs name servers by server_id.
      serverUuid: serverIdentity(Number(row.serverId)),
      readOnly: asBoolean(row.readOnly),
      gtidExecuted: asString(row.gtidExecuted).replace(/\s+/g, ''),
      // MariaDB keeps no such set; a replica that needs purged binlogs sees error 1236 instead.
      gtidPurged: '',
      semiSyncSource: asBoolean(row.semiSyncSource),
      // MariaDB's semi-sync waits for one acknowledgement, however many replicas there are.
      semiSyncAcks: 1,
      semiSyncWaiting: asNumberOrNull(row.semiSyncWaiting),
    }),
    replicaStatusQuery: 'SHOW REPLICA STATUS',
    parseReplicaStatus: (row) =>
      row === undefined
        ? null
        : {
            sourceHost: asString(row.Master_Host),
            sourcePort: Number(row.Master_Port),
            ioRunning: row.Slave_IO_Running === 'Yes',
            ioState: asString(row.Slave_IO_Running),
            sqlRunning: row.Slave_SQL_Running === 'Yes',
            lagSeconds: asNumberOrNull(row.Seconds_Behind_Master),
            lastIoError: asString(row.Last_IO_Error),
            lastSqlError: asString(row.Last_SQL_Error),
            // "Could not find GTID state requested by slave in any binlog files": purged.
            sourcePurgedBinlogs: Number(row.Last_IO_Errno) === ER_MASTER_FATAL_ERROR_READING_BINLOG && /GTID state/.test(asString(row.Last_IO_Error)),
            autoPosition: asString(row.Using_Gtid) !== 'No',
            retrievedGtids: asString(row.Gtid_IO_Pos).replace(/\s+/g, ''),
          },
    applierErrorQuery: null,
    binlogStatusQuery: 'SHOW BINLOG STATUS',
    parseBinlogStatus: (row) => (row === undefined ? null : { file: asString(row.File), position: Number(row.Position) }),
    setReadOnly: (on) => [`SET GLOBAL read_only = ${on ? 'ON' : 'OFF'}`],
    setSemiSyncSource: (on) => `SET GLOBAL rpl_semi_sync_master_enabled = ${on ? 'ON' : 'OFF'}`,
    maxSemiSyncAcks: 1,
    setSemiSyncAcks: () => [],
    // MASTER_GTID_WAIT answers 0 when reached, -1 on timeout.
    waitForGtids: (gtids, timeoutSeconds) => ({ sql: 'SELECT MASTER_GTID_WAIT(?, ?) + 1 AS applied', values: [gtids, timeoutSeconds] }),
    countGtids: countMariadbGtids,
    changeSource: (source: ReplicationSource) => ({
      // With a CA: TLS, the source's certificate and name verified. Without, the flavour's own
      // default (plain text on 10.x; 11.4+ encrypts, checking the certificate against the password).
      sql:
        'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 2' +
        (source.caFile ? ', MASTER_SSL = 1, MASTER_SSL_CA = ?, MASTER_SSL_VERIFY_SERVER_CERT = 1' : ''),
      values: [source.host, source.port, source.user, source.password, ...(source.caFile ? [source.caFile] : [])],
    }),
    // LOCAL: a FLUSH is binlogged otherwise, and would be an errant transaction on a replica.
    reloadTls: 'FLUSH LOCAL SSL',
    // MASTER_USE_GTID=slave_pos asks from gtid_slave_pos, which can lag what this server has: a
    // DDL is binlogged before gtid_slave_pos records it, and a crash between the two (seen here:
    // SIGKILL right after a CREATE TABLE) has strict mode refuse the GTID sent again (error 1950).
    // Every node logs what it applies (log_slave_updates), so its binlog position is exactly what
    // it has; errant transactions are refused before replication starts (decide).
    alignReplicaPosition: ['SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos'],
    subtractGtids: subtractMariadbGtids,
    originatesFrom: (member, identity) => mariadbGtidOriginatesFrom(member, Number(/^server-id-(\d+)$/.exec(identity)?.[1] ?? Number.NaN)),
    // No clone in MariaDB: a copy is a mariadb-backup stream (agent/mysql/streamed-copy.ts).
    cloneFrom: null,
    cloneProgressQuery: null,
    // The copy has no binary logs: its binlog state is set from the donor's, which must be
    // done on an empty binary log (RESET MASTER), and replication asks from there.
    adoptCopiedGtids: (donorState, position) => [
      { sql: 'RESET MASTER' },
      { sql: 'SET GLOBAL gtid_binlog_state = ?', values: [mergeMariadbStates(donorState, position)] },
      { sql: 'SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos' },
    ],
    readOnlyBypassQuery:
      `SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) AS account FROM mysql.global_priv ` +
      `WHERE JSON_VALUE(Priv, '$.access') & ${READ_ONLY_ADMIN_BIT} <> 0 AND NOT (User IN (?, ?) AND Host = '%') ` +
      // A locked account (root, locked by the init SQL) cannot log in to write.
      // (JSON_VALUE gives '1' for true on 10.11.)
      `AND COALESCE(JSON_VALUE(Priv, '$.account_locked'), '0') NOT IN ('1', 'true')`,
  };
}
