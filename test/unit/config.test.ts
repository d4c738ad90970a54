import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadRunConfig, loadStageConfig } from '../../agent/config.ts';
import { AgentError } from '../../agent/errors.ts';

const secrets = {
  MYSQL_HA_AGENT_PASSWORD: 'agent-secret',
  MYSQL_HA_REPLICATION_PASSWORD: 'repl-secret',
  MYSQL_HA_APP_PASSWORD: 'app-secret',
};

test('defaults: peers are the StatefulSet pods under its headless Service, pod 0 bootstraps', () => {
  const config = loadRunConfig({ POD_NAME: 'mysql-ha-2', ...secrets });
  assert.deepEqual(
    config.peers.map((peer) => peer.host),
    ['mysql-ha-0.mysql-ha', 'mysql-ha-1.mysql-ha', 'mysql-ha-2.mysql-ha'],
  );
  assert.equal(config.bootstrapPrimary, 'mysql-ha-0');
  assert.equal(config.http.port, 8080);
  assert.equal(config.mysql.host, '127.0.0.1');
});

test('passwords can come from mounted Secret files; a trailing newline is not part of them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mha-config-'));
  writeFileSync(join(dir, 'repl'), 'from-file\n');
  const config = loadRunConfig({
    POD_NAME: 'mysql-ha-1',
    ...secrets,
    MYSQL_HA_REPLICATION_PASSWORD: undefined,
    MYSQL_HA_REPLICATION_PASSWORD_FILE: join(dir, 'repl'),
  });
  assert.equal(config.replication.password, 'from-file');
});

test('every bad or missing variable is named in one error', () => {
  assert.throws(
    () =>
      loadRunConfig({
        POD_NAME: 'mysql-ha-1',
        MYSQL_HA_HTTP_PORT: 'eighty',
        MYSQL_HA_MAX_LAG_SECONDS: '-1',
        MYSQL_HA_AGENT_PASSWORD: 'x',
        MYSQL_HA_APP_PASSWORD_FILE: '/nonexistent/app',
      }),
    (error: unknown) => {
      assert.ok(error instanceof AgentError);
      assert.equal(error.code, 'MHA_CONFIG_INVALID');
      for (const name of ['MYSQL_HA_HTTP_PORT', 'MYSQL_HA_MAX_LAG_SECONDS', 'MYSQL_HA_REPLICATION_PASSWORD', 'MYSQL_HA_APP_PASSWORD_FILE']) {
        assert.match(error.message, new RegExp(name));
      }
      assert.match(error.message, /there is no default password/);
      return true;
    },
  );
});

test('a password given twice is refused rather than guessed', () => {
  assert.throws(() => loadRunConfig({ POD_NAME: 'mysql-ha-1', ...secrets, MYSQL_HA_APP_PASSWORD_FILE: '/etc/hostname' }), /MYSQL_HA_APP_PASSWORD: set either/);
});

test('explicit peers must include this pod, and the bootstrap primary must be a peer', () => {
  assert.throws(() => loadRunConfig({ POD_NAME: 'mysql-ha-5', ...secrets, MYSQL_HA_PEERS: 'mysql-ha-0=10.0.0.1' }), /does not list this pod/);
  assert.throws(() => loadRunConfig({ POD_NAME: 'mysql-ha-1', ...secrets, MYSQL_HA_BOOTSTRAP_PRIMARY: 'db-0' }), /db-0 is not one of the peers/);
});

test('no secret value appears in a configuration error', () => {
  try {
    loadRunConfig({ POD_NAME: 'bad name', ...secrets });
    assert.fail('expected an error');
  } catch (error) {
    for (const value of Object.values(secrets)) assert.doesNotMatch(String(error), new RegExp(value));
  }
});

test('stage config: server_id derived from the ordinal, report_host from the peers', () => {
  const config = loadStageConfig({ POD_NAME: 'mysql-ha-3', MYSQL_HA_AGENT_PASSWORD: 'a', MYSQL_HA_REPLICAS: '4', MYSQL_HA_SERVER_ID_BASE: '1000' });
  assert.equal(config.serverId, 1003);
  assert.equal(config.reportHost, 'mysql-ha-3.mysql-ha');
});
