import { countMysqlGtids, mysqlGtidOriginatesFrom, subtractMysqlGtids } from '../gtid.ts';
import { asBoolean, asNumberOrNull, asString } from './rows.ts';
import type { Dialect, ReplicationSource } from './types.ts';

/**
 * Oracle MySQL 8.0.23+, 8.4 LTS and 9.x: the REPLICA/SOURCE syntax (the MASTER/SLAVE
 * forms are gone from 8.4). `SHOW BINARY LOG STATUS` exists from 8.2; 8.0 only has the
 * old name, so the one version-dependent statement is picked here, once.
 */
// MySQL's IO error when the source cannot send what a replica asks for (purged logs among other causes).
const ER_SOURCE_FATAL_ERROR_READING_BINLOG = 13114;

export function mysqlDialect(hasBinaryLogStatus: boolean): Dialect {
  return {
    flavor: 'mysql',
    cnfLines: () => [
      'gtid_mode = ON',
      'enforce_gtid_consistency = ON',
      'log_replica_updates = ON',
      // A pod whose data dir is replaced keeps its server_id; without this its replica would skip,
      // as its own, every transaction the pod wrote before, and silently miss them. With GTIDs
      // on, MySQL allows it with log_replica_updates: executed GTIDs are skipped, so no loops.
      'replicate_same_server_id = ON',
      'skip_replica_start = ON',
      // super_read_only also stops accounts with SUPER/CONNECTION_ADMIN; the agent lifts it on the primary only.
      'super_read_only = ON',
      // Deprecated in 9.x (ROW is the default); loose- keeps a future removal from stopping mysqld.
      'loose-binlog_format = ROW',
      // Semi-sync on every node, since any node may become primary (INSTALL PLUGIN is refused
      // under super_read_only). A replica acknowledges; only the primary turns the source side on.
      'plugin_load_add = semisync_source.so',
      'plugin_load_add = semisync_replica.so',
      'rpl_semi_sync_replica_enabled = ON',
      'rpl_semi_sync_source_wait_point = AFTER_SYNC',
      // The longest wait there is (~49 days): never fall back to asynchronous silently.
      'rpl_semi_sync_source_timeout = 4294967295',
      // Clone: a former primary holding transactions no replica acknowledged is rebuilt from the primary.
      'plugin_load_add = mysql_clone.so',
    ],
    agentGrants: (account, appDatabase) => [
      `GRANT REPLICATION SLAVE ON *.* TO ${account} WITH GRANT OPTION`,
      // RELOAD: RESET REPLICA ALL when a replica is promoted.
      `GRANT REPLICATION CLIENT, CREATE USER, RELOAD ON *.* TO ${account}`,
      // PROCESS and CONNECTION_ADMIN: to end client sessions when fencing a demoted primary.
      `GRANT SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, CONNECTION_ADMIN, PROCESS ON *.* TO ${account}`,
      // BACKUP_ADMIN: to be a clone donor; CLONE_ADMIN: to be rebuilt by cloning another node.
      `GRANT BACKUP_ADMIN, CLONE_ADMIN ON *.* TO ${account}`,
      // SHUTDOWN: the fence of last resort, when read-only cannot take effect in time.
      `GRANT SHUTDOWN ON *.* TO ${account}`,
      `GRANT SELECT ON performance_schema.replication_applier_status_by_worker TO ${account}`,
      // A clone's progress, for /status while it runs.
      `GRANT SELECT ON performance_schema.clone_progress TO ${account}`,
      `GRANT ALL ON \`${appDatabase}\`.* TO ${account} WITH GRANT OPTION`,
    ],
    variablesQuery:
      'SELECT @@server_id AS serverId, @@server_uuid AS serverUuid, @@super_read_only AS readOnly, @@gtid_executed AS gtidExecuted, @@gtid_purged AS gtidPurged, ' +
      '@@rpl_semi_sync_source_enabled AS semiSyncSource, @@rpl_semi_sync_source_wait_for_replica_count AS semiSyncAcks, ' +
      "(SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Rpl_semi_sync_source_wait_sessions') AS semiSyncWaiting",
    parseVariables: (row) => ({
      serverId: Number(row.serverId),
      serverUuid: asString(row.serverUuid),
      readOnly: asBoolean(row.readOnly),
      gtidExecuted: asString(row.gtidExecuted).replace(/\s+/g, ''),
      gtidPurged: asString(row.gtidPurged).replace(/\s+/g, ''),
      semiSyncSource: asBoolean(row.semiSyncSource),
      semiSyncAcks: Number(row.semiSyncAcks),
      semiSyncWaiting: asNumberOrNull(row.semiSyncWaiting),
    }),
    replicaStatusQuery: 'SHOW REPLICA STATUS',
    parseReplicaStatus: (row) =>
      row === undefined
        ? null
        : {
            sourceHost: asString(row.Source_Host),
            sourcePort: Number(row.Source_Port),
            ioRunning: row.Replica_IO_Running === 'Yes',
            ioState: asString(row.Replica_IO_Running),
            sqlRunning: row.Replica_SQL_Running === 'Yes',
            lagSeconds: asNumberOrNull(row.Seconds_Behind_Source),
            lastIoError: asString(row.Last_IO_Error),
            lastSqlError: asString(row.Last_SQL_Error),
            sourcePurgedBinlogs: Number(row.Last_IO_Errno) === ER_SOURCE_FATAL_ERROR_READING_BINLOG && /purged/.test(asString(row.Last_IO_Error)),
            autoPosition: asBoolean(row.Auto_Position),
            retrievedGtids: asString(row.Retrieved_Gtid_Set).replace(/\s+/g, ''),
          },
    applierErrorQuery:
      "SELECT CONCAT('Error ', LAST_ERROR_NUMBER, ': ', LAST_ERROR_MESSAGE) AS error " +
      'FROM performance_schema.replication_applier_status_by_worker WHERE LAST_ERROR_NUMBER <> 0 ' +
      'ORDER BY LAST_ERROR_TIMESTAMP DESC LIMIT 1',
    binlogStatusQuery: hasBinaryLogStatus ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS',
    parseBinlogStatus: (row) => (row === undefined ? null : { file: asString(row.File), position: Number(row.Position) }),
    // Order matters: super_read_only=OFF leaves read_only ON, so both are lifted; turning it ON implies read_only.
    setReadOnly: (on) => (on ? ['SET GLOBAL super_read_only = ON'] : ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']),
    setSemiSyncSource: (on) => `SET GLOBAL rpl_semi_sync_source_enabled = ${on ? 'ON' : 'OFF'}`,
    // The server's own limit is 65535; no cluster comes near it.
    maxSemiSyncAcks: 65_535,
    setSemiSyncAcks: (count) => [`SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = ${Number(count)}`],
    waitForGtids: (gtids, timeoutSeconds) => ({ sql: 'SELECT 1 - WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS applied', values: [gtids, timeoutSeconds] }),
    countGtids: countMysqlGtids,
    changeSource: (source: ReplicationSource) => ({
      // TLS always (MySQL makes certificates of its own at initialisation): the replication
      // password and data cross the network. With a CA the source's certificate and name are
      // verified; the CA and the check are set either way, since CHANGE keeps what it is not told.
      // Retries: reconnect every 2 s for ~4 days, so a restarting primary never makes a replica give up.
      sql:
        'CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, ' +
        'SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1, SOURCE_SSL_CA = ?, SOURCE_SSL_VERIFY_SERVER_CERT = ?, SOURCE_CONNECT_RETRY = 2, SOURCE_RETRY_COUNT = 172800',
      values: [source.host, source.port, source.user, source.password, source.caFile ?? '', source.caFile ? 1 : 0],
    }),
    // Not binlogged: no errant transaction on a replica.
    reloadTls: 'ALTER INSTANCE RELOAD TLS',
    // Auto-positioning already asks from gtid_executed, which covers every applied transaction.
    alignReplicaPosition: [],
    subtractGtids: subtractMysqlGtids,
    originatesFrom: mysqlGtidOriginatesFrom,
    adoptCopiedGtids: null,
    cloneFrom: (donor) => [
      { sql: 'SET GLOBAL clone_valid_donor_list = ?', values: [`${donor.host}:${donor.port}`] },
      // Clone refuses to run under super_read_only; read_only stays on, and the restart after
      // the clone brings super_read_only back from the cnf.
      { sql: 'SET GLOBAL super_read_only = OFF' },
      // With a CA the donor's certificate is verified (clone_ssl_ca); REQUIRE SSL: encrypted either way.
      { sql: 'SET GLOBAL clone_ssl_ca = ?', values: [donor.caFile ?? ''] },
      { sql: 'CLONE INSTANCE FROM ?@?:? IDENTIFIED BY ? REQUIRE SSL', values: [donor.user, donor.host, donor.port, donor.password] },
    ],
    cloneProgressQuery: 'SELECT STAGE AS step, STATE AS state, DATA AS bytes, ESTIMATE AS estimatedBytes FROM performance_schema.clone_progress',
    readOnlyBypassQuery: null,
  };
}
