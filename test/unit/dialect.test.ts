// The SQL dialects. What a MariaDB server does with the MariaDB dialect's statements is checked
// on a real one (Debian's mariadbd, started once for this file on a private socket: about two
// seconds). A MySQL server takes too long to initialise for the unit suite (the e2e suites run
// the MySQL dialect on MySQL), so its statements are checked here for what matters in them:
// which syntax, which options, and that secrets travel as bound values, never inlined.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Connection, createConnection } from 'mysql2/promise';
import { loadStageConfig } from '../../agent/config.ts';
import { type Dialect, dialectForServer, parseServerVersion } from '../../agent/mysql/dialect/index.ts';
import type { Statement } from '../../agent/mysql/dialect/types.ts';
import { CNF_FILE, INIT_SQL_FILE, renderStagedFiles } from '../../agent/pod/stage.ts';
import { mariadbRuntime, runCommand } from '../../agent/sandbox/runtime.ts';
import { requireTool } from '../support/tools.ts';

const dialectFor = (version: string) => dialectForServer(parseServerVersion(version));

/** The `?` placeholders of a statement, outside quoted strings. */
function placeholderCount(sql: string): number {
  return sql.replace(/'(?:[^'\\]|\\.)*'/g, '').split('?').length - 1;
}

/**
 * The `NAME = value` options of a CHANGE … TO statement, with each `?` replaced by the value
 * bound to it: what the server is told, whatever the order and spacing.
 */
function changeOptions(statement: Statement, prefix: RegExp): Map<string, unknown> {
  const match = prefix.exec(statement.sql);
  assert.ok(match, statement.sql);
  const values = [...(statement.values ?? [])];
  assert.equal(placeholderCount(statement.sql), values.length, `placeholders and values differ in number: ${statement.sql}`);
  const options = new Map<string, unknown>();
  for (const option of statement.sql.slice(match[0].length).split(',')) {
    const [name, value] = option.split('=').map((part) => part.trim()) as [string, string];
    options.set(name, value === '?' ? values.shift() : value);
  }
  return options;
}

/**
 * MySQL's two read-only switches as its manual describes them: super_read_only=ON also sets
 * read_only=ON, and read_only=OFF also sets super_read_only=OFF. Applies SET GLOBAL statements.
 */
function applyReadOnly(state: { read_only: boolean; super_read_only: boolean }, statements: (string | Statement)[]): typeof state {
  const next = { ...state };
  for (const statement of statements) {
    const sql = typeof statement === 'string' ? statement : statement.sql;
    const set = /^SET GLOBAL (super_read_only|read_only) = (ON|OFF)$/.exec(sql);
    assert.ok(set, `not a read-only switch: ${sql}`);
    const on = set[2] === 'ON';
    next[set[1] as keyof typeof next] = on;
    if (set[1] === 'super_read_only' && on) next.read_only = true;
    if (set[1] === 'read_only' && !on) next.super_read_only = false;
  }
  return next;
}

const donor = { host: 'mysql-ha-0.mysql-ha', port: 3306, user: 'agent', password: `pw'; DROP USER root; --`, caFile: '/etc/mysql-ha/tls/ca.crt' };

test('versions pick the dialect once', () => {
  assert.equal(dialectFor('9.7.4-2').flavor, 'mysql');
  assert.equal(dialectFor('10.11.18-MariaDB-0+deb12u1-log').flavor, 'mariadb');
  assert.equal(dialectFor('11.4.2-MariaDB').flavor, 'mariadb');
  // SHOW BINARY LOG STATUS exists from MySQL 8.2; SHOW MASTER STATUS is gone from 8.4.
  const binlogStatus = (version: string) => /^SHOW (MASTER|BINARY LOG) STATUS$/.exec(dialectFor(version).binlogStatusQuery)?.[1];
  assert.deepEqual(['8.0.23', '8.0.36', '8.1.0', '8.2.0', '8.4.3', '9.7.4'].map(binlogStatus), [
    'MASTER',
    'MASTER',
    'MASTER',
    'BINARY LOG',
    'BINARY LOG',
    'BINARY LOG',
  ]);
  // One MariaDB dialect for every supported version (the MariaDB server below shows that it works).
  assert.equal(dialectFor('11.4.2-MariaDB').binlogStatusQuery, dialectFor('10.6.0-MariaDB').binlogStatusQuery);
});

test('servers without GTID auto-positioning syntax are refused with a reason', () => {
  assert.throws(() => dialectFor('5.7.44'), /MySQL 5.7.44 is older than 8.0.23/);
  assert.throws(() => dialectFor('8.0.22'), /older than 8.0.23/);
  assert.throws(() => dialectFor('10.5.9-MariaDB'), /MariaDB 10.5.9-MariaDB is older than 10.6/);
  assert.throws(() => dialectFor('garbage'), /cannot read the server version/);
});

test('MySQL: CHANGE REPLICATION SOURCE with auto-positioning over TLS, no removed syntax, the password bound', () => {
  const source = { host: 'mysql-ha-0.mysql-ha', port: 3306, user: 'repl', password: donor.password, caFile: donor.caFile };
  const statement = dialectFor('9.7.4').changeSource(source);
  assert.doesNotMatch(statement.sql, /MASTER/);
  assert.ok(!statement.sql.includes(donor.password), statement.sql);
  const options = changeOptions(statement, /^CHANGE REPLICATION SOURCE TO /);
  assert.equal(options.get('SOURCE_HOST'), 'mysql-ha-0.mysql-ha');
  assert.equal(options.get('SOURCE_PORT'), 3306);
  assert.equal(options.get('SOURCE_USER'), 'repl');
  assert.equal(options.get('SOURCE_PASSWORD'), donor.password);
  assert.equal(options.get('SOURCE_AUTO_POSITION'), '1');
  // The replication password and data cross the network: encrypted, and with a CA the source's certificate and name checked.
  assert.equal(options.get('SOURCE_SSL'), '1');
  assert.equal(options.get('SOURCE_SSL_CA'), donor.caFile);
  assert.equal(options.get('SOURCE_SSL_VERIFY_SERVER_CERT'), 1);
  // Without certificates: still encrypted, and a CA set before is cleared (CHANGE keeps what it is not told).
  const unverified = changeOptions(dialectFor('9.7.4').changeSource({ ...source, caFile: null }), /^CHANGE REPLICATION SOURCE TO /);
  assert.equal(unverified.get('SOURCE_SSL'), '1');
  assert.equal(unverified.get('SOURCE_SSL_CA'), '');
  assert.equal(unverified.get('SOURCE_SSL_VERIFY_SERVER_CERT'), 0);
});

test("MariaDB: CHANGE MASTER with a CA verifies the source's certificate; without one it keeps the server's default", () => {
  const source = { host: 'mysql-ha-0.mysql-ha', port: 3306, user: 'repl', password: donor.password, caFile: donor.caFile };
  const verified = changeOptions(dialectFor('10.11.1-MariaDB').changeSource(source), /^CHANGE MASTER TO /);
  assert.equal(verified.get('MASTER_USE_GTID'), 'slave_pos');
  assert.equal(verified.get('MASTER_SSL'), '1');
  assert.equal(verified.get('MASTER_SSL_CA'), donor.caFile);
  assert.equal(verified.get('MASTER_SSL_VERIFY_SERVER_CERT'), '1');
  const plain = changeOptions(dialectFor('10.11.1-MariaDB').changeSource({ ...source, caFile: null }), /^CHANGE MASTER TO /);
  assert.deepEqual(
    [...plain.keys()].filter((name) => name.startsWith('MASTER_SSL')),
    [],
  );
});

test('MySQL read-only: super_read_only on, and both switches off to open for writes', () => {
  const mysql = dialectFor('9.7.4');
  const open = { read_only: false, super_read_only: false };
  assert.deepEqual(applyReadOnly(open, mysql.setReadOnly(true)), { read_only: true, super_read_only: true });
  assert.deepEqual(applyReadOnly({ read_only: true, super_read_only: true }, mysql.setReadOnly(false)), open);
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

test('rebuild: MySQL clones from an allowed donor over TLS, with the password bound, still read-only; MariaDB cannot clone', () => {
  const statements = dialectFor('9.7.4').cloneFrom!(donor);
  for (const statement of statements) {
    assert.ok(!statement.sql.includes(donor.password), `the password is inlined in ${statement.sql}`);
    assert.equal(placeholderCount(statement.sql), statement.values?.length ?? 0, statement.sql);
  }
  const cloneAt = statements.findIndex((statement) => /^CLONE INSTANCE FROM /.test(statement.sql));
  assert.notEqual(cloneAt, -1, 'no CLONE INSTANCE statement');
  const clone = statements[cloneAt]!;
  // CLONE INSTANCE FROM user@host:port IDENTIFIED BY password, each part a bound value.
  assert.match(clone.sql, /^CLONE INSTANCE FROM \?@\?:\? IDENTIFIED BY \? /);
  assert.deepEqual(clone.values, [donor.user, donor.host, donor.port, donor.password]);
  assert.match(clone.sql, /\bREQUIRE SSL$/);

  // Before the clone: the donor is allowed, and super_read_only (which clone refuses to run under)
  // is lifted, but read_only stays on, so clients still cannot write.
  const before = statements.slice(0, cloneAt);
  const donorList = before.find((statement) => /^SET GLOBAL clone_valid_donor_list = \?$/.test(statement.sql));
  assert.deepEqual(donorList?.values, [`${donor.host}:${donor.port}`]);
  // The donor's certificate is checked against the CA.
  const cloneCa = before.find((statement) => /^SET GLOBAL clone_ssl_ca = \?$/.test(statement.sql));
  assert.deepEqual(cloneCa?.values, [donor.caFile]);
  const switches = before.filter((statement) => statement !== donorList && statement !== cloneCa);
  assert.deepEqual(applyReadOnly({ read_only: true, super_read_only: true }, switches), { read_only: true, super_read_only: false });

  assert.equal(dialectFor('10.11.18-MariaDB').cloneFrom, null);
});

describe('the MariaDB dialect on a real MariaDB server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-dialect-'));
  const socket = join(dir, 'mysqld.sock');
  const dataDir = join(dir, 'data');
  const agentPassword = 'agent-secret';
  const stage = loadStageConfig({
    POD_NAME: 'mysql-ha-1',
    MYSQL_HA_FLAVOR: 'mariadb',
    MYSQL_HA_AGENT_PASSWORD: agentPassword,
    MYSQL_HA_ADMIN_PASSWORD: 'admin-secret',
  });
  let server: ChildProcess | undefined;
  let serverLog = '';
  /** The agent's account, created by the staged init_file with the dialect's grants. */
  let agent: Connection;
  /** A client of the application: writes to its database, nothing more. */
  let app: Connection;
  /** The people's administrator the init SQL creates (root is locked). */
  let admin: Connection;
  let dialect: Dialect;

  const run = async (connection: Connection, statement: string | Statement): Promise<Record<string, unknown>[]> => {
    const { sql, values } = typeof statement === 'string' ? { sql: statement, values: undefined } : statement;
    // As the agent runs its statements (LocalServer.query): client-side bound values.
    const [rows] = await connection.query({ sql, values });
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  };
  const connect = (user: string, password: string) => createConnection({ socketPath: socket, user, password, supportBigNumbers: true });
  const variables = async () => dialect.parseVariables((await run(agent, dialect.variablesQuery))[0]!);
  const appWrite = () => run(app, 'INSERT INTO app.t VALUES ()');

  before(async () => {
    requireTool('/usr/sbin/mariadbd', 'install MariaDB (`apt-get install mariadb-server`)');
    const runtime = mariadbRuntime();
    const confDir = join(dir, 'conf.d');
    const initDir = join(dir, 'init');
    mkdirSync(confDir);
    mkdirSync(initDir);
    // The files `mysql-ha-agent stage` writes for a pod: the dialect's cnf lines and the agent's grants.
    const staged = renderStagedFiles(stage, initDir);
    writeFileSync(join(confDir, CNF_FILE), staged.cnf);
    writeFileSync(join(initDir, INIT_SQL_FILE), staged.initSql);
    await runCommand(runtime.initializeCommand(dir, dataDir));
    const [file, ...args] = runtime.serverCommand(dir, [
      `--defaults-file=${join(confDir, CNF_FILE)}`,
      `--datadir=${dataDir}`,
      '--skip-networking',
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
    ]);
    // Its own process group: the supervisor shell and mariadbd are stopped together.
    server = spawn(file!, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    server.stderr!.on('data', (chunk: Buffer) => {
      serverLog = (serverLog + chunk.toString()).slice(-4000);
    });
    // A deadline of this test harness, not a performance bound: it turns a server that never
    // comes up into a failure with its log, instead of a hanging suite.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        agent = await connect(stage.agent.user, agentPassword);
        break;
      } catch (error) {
        if (server.exitCode !== null || Date.now() > deadline) {
          throw new Error(`mariadbd did not accept the agent's connection (${(error as Error).message}); its log ends with:\n${serverLog}`);
        }
        await sleep(50);
      }
    }
    admin = await connect('admin', 'admin-secret');
    await run(admin, 'CREATE DATABASE app');
    await run(admin, 'CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY)');
    await run(admin, "CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret'");
    await run(admin, "GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'%'");
    app = await connect('app', 'app-secret');
    dialect = dialectForServer(parseServerVersion(String((await run(agent, 'SELECT VERSION() AS version'))[0]!.version)));
  });

  after(async () => {
    await Promise.all([agent, app, admin].map((connection) => connection?.end().catch(() => undefined)));
    if (server && server.exitCode === null && server.signalCode === null) {
      process.kill(-server.pid!, 'SIGKILL');
      await once(server, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the staged cnf starts the server read-only, and the variables query says so', async () => {
    assert.equal(dialect.flavor, 'mariadb');
    const current = await variables();
    assert.equal(current.serverId, stage.serverId);
    assert.equal(current.readOnly, true);
    assert.equal(current.semiSyncSource, false);
    assert.equal(current.semiSyncWaiting, 0, "the status variable is readable by the agent's account");
    await assert.rejects(appWrite(), (error: { errno?: number }) => error.errno === 1290); // ER_OPTION_PREVENTS_STATEMENT
  });

  it("read-only fences the application's writes; lifting it lets them through", async () => {
    for (const statement of dialect.setReadOnly(false)) await run(agent, statement);
    assert.equal((await variables()).readOnly, false);
    await appWrite();
    for (const statement of dialect.setReadOnly(true)) await run(agent, statement);
    assert.equal((await variables()).readOnly, true);
    await assert.rejects(appWrite(), (error: { errno?: number; message: string }) => {
      assert.equal(error.errno, 1290, error.message); // ER_OPTION_PREVENTS_STATEMENT: read-only
      return true;
    });
  });

  it('the binlog status moves with each write, and the GTID wait answers applied or not', async () => {
    const position = async () => dialect.parseBinlogStatus((await run(agent, dialect.binlogStatusQuery))[0]);
    const first = await position();
    assert.match(first?.file ?? '', /^mysql-bin\.\d+$/);
    for (const statement of dialect.setReadOnly(false)) await run(agent, statement);
    try {
      await appWrite();
    } finally {
      for (const statement of dialect.setReadOnly(true)) await run(agent, statement);
    }
    const second = await position();
    assert.equal(second?.file, first?.file);
    assert.ok(second!.position > first!.position, `${JSON.stringify(first)} -> ${JSON.stringify(second)}`);

    const { gtidExecuted } = await variables();
    assert.match(gtidExecuted, /^\d+-\d+-\d+$/);
    const [domain, serverId, sequence] = gtidExecuted.split('-');
    const notYet = `${domain}-${serverId}-${Number(sequence) + 1000}`;
    // MariaDB's wait is on what replication applied (gtid_slave_pos), not on what the node wrote
    // itself: stand in for a replica that has applied these transactions.
    await run(admin, { sql: 'SET GLOBAL gtid_slave_pos = ?', values: [gtidExecuted] });
    assert.deepEqual(await run(agent, dialect.waitForGtids(gtidExecuted, 1)), [{ applied: 1 }]);
    assert.deepEqual(await run(agent, dialect.waitForGtids(notYet, 0.1)), [{ applied: 0 }]);
  });

  it('CHANGE MASTER points the node at its source by GTID, with the password bound as a value', async () => {
    const source = { host: '127.0.0.1', port: 3399, user: 'repl', password: donor.password, caFile: '/nonexistent/ca.crt' };
    const statement = dialect.changeSource(source);
    assert.ok(!statement.sql.includes(source.password), statement.sql);
    await run(agent, statement);
    try {
      const [row] = await run(agent, dialect.replicaStatusQuery);
      const status = dialect.parseReplicaStatus(row);
      assert.equal(status?.sourceHost, source.host);
      assert.equal(status?.sourcePort, source.port);
      assert.equal(status?.autoPosition, true);
      assert.equal(status?.ioRunning, false);
      assert.equal(row?.Master_User, source.user);
      assert.equal(row?.Master_SSL_Allowed, 'Yes');
      assert.equal(row?.Master_SSL_CA_File, source.caFile);
      assert.equal(row?.Master_SSL_Verify_Server_Cert, 'Yes');
      // The server keeps the connection settings in master.info, the password as it was given.
      assert.ok(readFileSync(join(dataDir, 'master.info'), 'utf8').split('\n').includes(source.password), 'password not stored as given');
    } finally {
      await run(agent, 'RESET REPLICA ALL');
    }
    assert.equal(dialect.parseReplicaStatus((await run(agent, dialect.replicaStatusQuery))[0]), null);
  });

  it('reloading the certificates is kept out of the binary log (no errant transaction on a replica)', async () => {
    const before = (await run(agent, dialect.variablesQuery))[0]!.gtidExecuted;
    await run(agent, dialect.reloadTls);
    assert.equal((await run(agent, dialect.variablesQuery))[0]!.gtidExecuted, before);
  });

  it('lists the accounts that can write through read_only, other than the agent itself', async () => {
    await run(admin, "CREATE USER 'dba'@'%' IDENTIFIED BY 'dba-secret'");
    await run(admin, "GRANT READ_ONLY ADMIN ON *.* TO 'dba'@'%'");
    const trusted = [stage.agent.user, stage.admin!.user];
    const accounts = (await run(agent, { sql: dialect.readOnlyBypassQuery!, values: trusted })).map((row) => String(row.account));
    assert.ok(accounts.includes("'dba'@'%'"), accounts.join(', '));
    // Locked root cannot log in to write; the administrator may, by design (a person's repairs), like the agent.
    assert.ok(!accounts.some((account) => account.startsWith("'root'@") || account.startsWith("'admin'@")), accounts.join(', '));
    assert.ok(!accounts.some((account) => account.startsWith("'app'@") || account.startsWith(`'${stage.agent.user}'@`)), accounts.join(', '));
  });

  // Last: it empties the binary log, as on a node that has just started on a copy of another's data.
  it("a node started on a copy takes the donor's binlog state, with the backup's position, as the agent's account", async () => {
    // The donor's state when its backup began (two servers have written), and the backup's later position.
    for (const statement of dialect.adoptCopiedGtids!('0-1-5,0-2-9', '0-2-12')) await run(agent, statement);
    assert.equal((await variables()).gtidExecuted, '0-1-5,0-2-12');
    const [positions] = await run(agent, 'SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS replica');
    assert.deepEqual(positions, { binlog: '0-2-12', replica: '0-2-12' });
  });
});
