import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialectForServer, parseServerVersion } from '../../agent/mysql/dialect/index.ts';

const dialectFor = (version: string) => dialectForServer(parseServerVersion(version));

test('versions pick the dialect once', () => {
  assert.equal(dialectFor('9.7.4-2').flavor, 'mysql');
  assert.equal(dialectFor('8.4.3').binlogStatusQuery, 'SHOW BINARY LOG STATUS');
  assert.equal(dialectFor('8.0.36').binlogStatusQuery, 'SHOW MASTER STATUS');
  assert.equal(dialectFor('10.11.18-MariaDB-0+deb12u1-log').flavor, 'mariadb');
  assert.equal(dialectFor('11.4.2-MariaDB').binlogStatusQuery, 'SHOW BINLOG STATUS');
});

test('servers without GTID auto-positioning syntax are refused with a reason', () => {
  assert.throws(() => dialectFor('5.7.44'), /MySQL 5.7.44 is older than 8.0.23/);
  assert.throws(() => dialectFor('8.0.22'), /older than 8.0.23/);
  assert.throws(() => dialectFor('10.5.9-MariaDB'), /MariaDB 10.5.9-MariaDB is older than 10.6/);
  assert.throws(() => dialectFor('garbage'), /cannot read the server version/);
});

test('MySQL: CHANGE REPLICATION SOURCE with auto-positioning, no removed syntax', () => {
  const statement = dialectFor('9.7.4').changeSource({ host: 'mysql-ha-0.mysql-ha', port: 3306, user: 'repl', password: 'pw' });
  assert.match(statement.sql, /^CHANGE REPLICATION SOURCE TO /);
  assert.match(statement.sql, /SOURCE_AUTO_POSITION = 1/);
  assert.doesNotMatch(statement.sql, /MASTER|pw/);
  assert.deepEqual(statement.values, ['mysql-ha-0.mysql-ha', 3306, 'repl', 'pw']);
});

test('MariaDB: CHANGE MASTER with MASTER_USE_GTID=slave_pos, no MySQL-only options', () => {
  const statement = dialectFor('10.11.18-MariaDB').changeSource({ host: 'h', port: 3306, user: 'repl', password: 'pw' });
  assert.match(statement.sql, /^CHANGE MASTER TO /);
  assert.match(statement.sql, /MASTER_USE_GTID = slave_pos/);
  assert.doesNotMatch(statement.sql, /GET_MASTER_PUBLIC_KEY|SOURCE_/);
});

test('read-only: MySQL uses super_read_only, MariaDB read_only', () => {
  assert.deepEqual(dialectFor('9.7.4').setReadOnly(true), ['SET GLOBAL super_read_only = ON']);
  assert.deepEqual(dialectFor('9.7.4').setReadOnly(false), ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']);
  assert.deepEqual(dialectFor('10.11.1-MariaDB').setReadOnly(true), ['SET GLOBAL read_only = ON']);
});

test('SHOW REPLICA STATUS rows read the same on both flavours', () => {
  const mysql = dialectFor('9.7.4').parseReplicaStatus({
    Source_Host: '127.0.10.1',
    Source_Port: 3306,
    Replica_IO_Running: 'Connecting',
    Replica_SQL_Running: 'Yes',
    Seconds_Behind_Source: null,
    Last_IO_Error: 'Access denied',
    Last_SQL_Error: '',
    Auto_Position: 1,
  });
  const mariadb = dialectFor('10.11.1-MariaDB').parseReplicaStatus({
    Master_Host: '127.0.10.1',
    Master_Port: 3306,
    Slave_IO_Running: 'Connecting',
    Slave_SQL_Running: 'Yes',
    Seconds_Behind_Master: null,
    Last_IO_Error: 'Access denied',
    Last_SQL_Error: '',
    Using_Gtid: 'Slave_Pos',
  });
  assert.deepEqual(mysql, mariadb);
  assert.equal(mysql?.ioRunning, false);
  assert.equal(dialectFor('9.7.4').parseReplicaStatus(undefined), null);
});

test('rebuild: MySQL clones over TLS with the password as a bound value; MariaDB cannot clone', () => {
  const statements = dialectFor('9.7.4').cloneFrom!({ host: 'mysql-ha-0.mysql-ha', port: 3306, user: 'agent', password: 'pw' });
  assert.deepEqual(
    statements.map((statement) => statement.sql),
    ['SET GLOBAL clone_valid_donor_list = ?', 'SET GLOBAL super_read_only = OFF', 'CLONE INSTANCE FROM ?@?:? IDENTIFIED BY ? REQUIRE SSL'],
  );
  assert.deepEqual(statements[0]!.values, ['mysql-ha-0.mysql-ha:3306']);
  assert.deepEqual(statements[2]!.values, ['agent', 'mysql-ha-0.mysql-ha', 3306, 'pw']);
  assert.equal(dialectFor('10.11.18-MariaDB').cloneFrom, null);
});
