import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadStageConfig } from '../../agent/config.ts';
import { renderStagedFiles } from '../../agent/pod/stage.ts';

const run = promisify(execFile);
const CLI = new URL('../../agent/cli.ts', import.meta.url).pathname;

const baseEnv = { MYSQL_HA_AGENT_PASSWORD: "s3cr'et\\x", PATH: process.env.PATH };

function cnfValues(cnf: string): Map<string, string> {
  return new Map(
    cnf
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => line.split('=').map((part) => part.trim()) as [string, string]),
  );
}

test('MySQL cnf: unique server_id, GTIDs, row binlog, replica updates logged, read-only at start', () => {
  const { cnf } = renderStagedFiles(loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-2' }), '/etc/mysql-ha/init');
  const values = cnfValues(cnf);
  assert.equal(values.get('server_id'), '102');
  assert.equal(values.get('gtid_mode'), 'ON');
  assert.equal(values.get('enforce_gtid_consistency'), 'ON');
  assert.equal(values.get('loose-binlog_format'), 'ROW');
  assert.equal(values.get('log_replica_updates'), 'ON');
  assert.equal(values.get('skip_replica_start'), 'ON');
  assert.equal(values.get('super_read_only'), 'ON');
  assert.equal(values.get('report_host'), 'mysql-ha-2.mysql-ha');
  assert.equal(values.get('init_file'), '/etc/mysql-ha/init/agent-init.sql');
  assert.match(cnf, /^\[mysqld\]$/m);
});

test('MariaDB cnf: its own spelling, read_only as the fence, strict GTIDs', () => {
  const { cnf } = renderStagedFiles(loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-1', MYSQL_HA_FLAVOR: 'mariadb' }), '/init');
  const values = cnfValues(cnf);
  assert.equal(values.get('log_slave_updates'), 'ON');
  assert.equal(values.get('skip_slave_start'), 'ON');
  assert.equal(values.get('read_only'), 'ON');
  assert.equal(values.get('gtid_strict_mode'), 'ON');
  assert.equal(values.get('binlog_format'), 'ROW');
  assert.equal(values.has('super_read_only'), false);
  assert.equal(values.has('gtid_mode'), false);
});

test('init SQL stays out of the binary log and quotes the password safely', () => {
  const { initSql } = renderStagedFiles(loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0' }), '/init');
  const statements = initSql.split('\n').filter((line) => line !== '' && !line.startsWith('--'));
  assert.equal(statements[0], 'SET SESSION sql_log_bin = 0;');
  assert.match(initSql, /IDENTIFIED BY 's3cr\\'et\\\\x'/);
  assert.match(initSql, /GRANT REPLICATION SLAVE ON \*\.\* TO 'mysqlha_agent'@'%' WITH GRANT OPTION/);
  assert.doesNotMatch(initSql, /GRANT ALL ON \*\.\*/);
});

for (const flavor of ['mysql', 'mariadb'] as const) {
  test(`${flavor}: root is locked at every start, accounts match by address only, and the administrator exists only with a password`, () => {
    const env = { ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_FLAVOR: flavor };
    const { cnf, initSql } = renderStagedFiles(loadStageConfig(env), '/init');
    assert.equal(cnfValues(cnf).get('skip_name_resolve'), 'ON');
    assert.match(initSql, /^ALTER USER IF EXISTS 'root'@'localhost' ACCOUNT LOCK;$/m);
    assert.match(initSql, /^DROP USER IF EXISTS 'root'@'127\.0\.0\.1', 'root'@'::1';$/m);
    assert.doesNotMatch(initSql, /'admin'/, 'no administrator without a password');
    const withAdmin = renderStagedFiles(loadStageConfig({ ...env, MYSQL_HA_ADMIN_PASSWORD: "adm'n" }), '/init').initSql;
    assert.match(withAdmin, /^CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'adm\\'n';$/m);
    assert.match(withAdmin, /^ALTER USER 'admin'@'%' IDENTIFIED BY 'adm\\'n' REQUIRE NONE;$/m, 'a rotated password is taken at the next start');
    assert.match(withAdmin, /^GRANT ALL ON \*\.\* TO 'admin'@'%' WITH GRANT OPTION;$/m);
  });
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  test(`${flavor}: with a certificate Secret, mysqld presents it, the agent's account needs TLS, and clients may be required to use it`, () => {
    const tlsDir = mkdtempSync(join(tmpdir(), 'mha-tls-'));
    for (const file of ['ca.crt', 'tls.crt', 'tls.key']) writeFileSync(join(tlsDir, file), 'PEM');
    const env = { ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_FLAVOR: flavor, MYSQL_HA_TLS_DIR: tlsDir };
    const { cnf, initSql } = renderStagedFiles(loadStageConfig(env), '/init');
    const values = cnfValues(cnf);
    assert.equal(values.get('ssl_ca'), join(tlsDir, 'ca.crt'));
    assert.equal(values.get('ssl_cert'), join(tlsDir, 'tls.crt'));
    assert.equal(values.get('ssl_key'), join(tlsDir, 'tls.key'));
    assert.equal(values.has('require_secure_transport'), false, 'clients may still connect without TLS unless asked');
    assert.match(initSql, /^ALTER USER 'mysqlha_agent'@'%' IDENTIFIED BY '.*' REQUIRE SSL;$/m);
    const required = renderStagedFiles(loadStageConfig({ ...env, MYSQL_HA_REQUIRE_SECURE_TRANSPORT: 'true' }), '/init');
    assert.equal(cnfValues(required.cnf).get('require_secure_transport'), 'ON');

    // Without certificates: nothing about TLS in the cnf, and the agent's account is not tied to it.
    const plain = renderStagedFiles(loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_FLAVOR: flavor }), '/init');
    assert.doesNotMatch(plain.cnf, /ssl|secure_transport/);
    assert.match(plain.initSql, /^ALTER USER 'mysqlha_agent'@'%' IDENTIFIED BY '.*' REQUIRE NONE;$/m);
  });
}

test('TLS settings: the Secret directory must hold all three files, and requiring TLS needs them', () => {
  const tlsDir = mkdtempSync(join(tmpdir(), 'mha-tls-'));
  writeFileSync(join(tlsDir, 'tls.crt'), 'PEM');
  assert.throws(
    () => loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_TLS_DIR: tlsDir }),
    (error: Error) => error.message.includes(`cannot read ${join(tlsDir, 'ca.crt')}`) && error.message.includes(`cannot read ${join(tlsDir, 'tls.key')}`),
  );
  assert.throws(() => loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_TLS_DIR: 'tls' }), /MYSQL_HA_TLS_DIR: an absolute path/);
  assert.throws(
    () => loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_REQUIRE_SECURE_TRANSPORT: 'true' }),
    /MYSQL_HA_REQUIRE_SECURE_TRANSPORT: needs MYSQL_HA_TLS_DIR/,
  );
});

test('MariaDB: the application account is never given READ_ONLY ADMIN', () => {
  const { initSql } = renderStagedFiles(loadStageConfig({ ...baseEnv, POD_NAME: 'mysql-ha-0', MYSQL_HA_FLAVOR: 'mariadb' }), '/init');
  const readOnlyAdmin = initSql.split('\n').filter((line) => line.includes('READ_ONLY ADMIN'));
  assert.deepEqual(
    readOnlyAdmin.map((line) => /TO (\S+);/.exec(line)?.[1]),
    ["'mysqlha_agent'@'%'"],
  );
});

test('stage CLI: writes both files, is idempotent, and keeps the init SQL private', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mha-stage-'));
  const args = [CLI, 'stage', '--conf-dir', join(dir, 'conf'), '--init-dir', join(dir, 'init')];
  const env = { ...baseEnv, POD_NAME: 'mysql-ha-1' };
  await run(process.execPath, args, { env });
  const first = [readFileSync(join(dir, 'conf/mysql-ha.cnf'), 'utf8'), readFileSync(join(dir, 'init/agent-init.sql'), 'utf8')];
  const second = await run(process.execPath, args, { env });
  assert.deepEqual([readFileSync(join(dir, 'conf/mysql-ha.cnf'), 'utf8'), readFileSync(join(dir, 'init/agent-init.sql'), 'utf8')], first);
  assert.match(second.stdout, /"cnfChanged":false,"initChanged":false/);
  assert.equal(statSync(join(dir, 'init/agent-init.sql')).mode & 0o777, 0o640);
  assert.doesNotMatch(second.stdout, /s3cr/);
});

test('stage CLI: a bad POD_NAME names it and exits non-zero', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mha-stage-'));
  await assert.rejects(
    run(process.execPath, [CLI, 'stage', '--conf-dir', dir, '--init-dir', dir], { env: { ...baseEnv, POD_NAME: 'mysql' } }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /POD_NAME "mysql" is not a StatefulSet pod name/);
      assert.match(error.stderr, /code: MHA_CONFIG_INVALID/);
      return true;
    },
  );
});

test('stage CLI: missing arguments are a usage error', async () => {
  await assert.rejects(run(process.execPath, [CLI, 'stage'], { env: baseEnv }), /stage needs --conf-dir DIR and --init-dir DIR/);
});
