import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadRunConfig, loadStageConfig } from '../../agent/config.ts';
import { AgentError } from '../../agent/errors.ts';
import { PeersFile } from '../../agent/pod/peers-file.ts';
import { captureLogger } from '../support/capture-logger.ts';

const secrets = {
  MYSQL_HA_AGENT_PASSWORD: 'agent-secret',
  MYSQL_HA_REPLICATION_PASSWORD: 'repl-secret',
  MYSQL_HA_APP_PASSWORD: 'app-secret',
};

type Env = Record<string, string | undefined>;

/** A valid environment for pod mysql-ha-1 of a 3-pod StatefulSet, plus `overrides`. */
const env = (overrides: Env = {}): Env => ({ POD_NAME: 'mysql-ha-1', ...secrets, ...overrides });

/**
 * The variables a configuration error names, in its order. The error lists one problem a
 * line, `  - VARIABLE: what is wrong`; it must be an AgentError with code MHA_CONFIG_INVALID.
 */
function flaggedVariables(error: unknown): string[] {
  assert.ok(error instanceof AgentError, `not an AgentError: ${String(error)}`);
  assert.equal(error.code, 'MHA_CONFIG_INVALID');
  return [...error.message.matchAll(/^ {2}- ([A-Z_]+): /gm)].map((match) => match[1]!);
}

/** Asserts that loadRunConfig refuses `environment`, naming exactly `variables`; returns the message. */
function refused(environment: Env, ...variables: string[]): string {
  let message = '';
  assert.throws(
    () => loadRunConfig(environment),
    (error: unknown) => {
      assert.deepEqual(flaggedVariables(error), variables, (error as Error).message);
      message = (error as Error).message;
      return true;
    },
  );
  return message;
}

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
  const token = 'switchover-secret';
  assert.throws(
    // Two problems, one of them about a secret: a bad pod name, and a password given both ways.
    () => loadRunConfig({ POD_NAME: 'bad name', ...secrets, MYSQL_HA_APP_PASSWORD_FILE: '/etc/hostname', MYSQL_HA_SWITCHOVER_TOKEN: token }),
    (error: unknown) => {
      assert.deepEqual(flaggedVariables(error), ['POD_NAME', 'MYSQL_HA_APP_PASSWORD']);
      const shown = `${String(error)}\n${(error as AgentError).describe()}`;
      for (const value of [...Object.values(secrets), token]) assert.ok(!shown.includes(value), `${value} appears in:\n${shown}`);
      return true;
    },
  );
});

test('stage config: server_id derived from the ordinal, report_host from the peers', () => {
  const config = loadStageConfig({ POD_NAME: 'mysql-ha-3', MYSQL_HA_AGENT_PASSWORD: 'a', MYSQL_HA_REPLICAS: '4', MYSQL_HA_SERVER_ID_BASE: '1000' });
  assert.equal(config.serverId, 1003);
  assert.equal(config.reportHost, 'mysql-ha-3.mysql-ha');
});

// The lease timings. The README's "Timings" table states the two rules for the TTL.

test('the default timings are the documented ones, and satisfy both TTL rules', () => {
  const { timings, loopIntervalMs } = loadRunConfig(env());
  assert.equal(loopIntervalMs, 500);
  assert.equal(timings.leaseTtlMs, 5000);
  assert.equal(timings.renewPeriodMs, 1000);
  assert.equal(timings.storeTimeoutMs, 1000);
  assert.equal(timings.statusTimeoutMs, 1000);
  assert.ok(timings.renewPeriodMs + 2 * timings.storeTimeoutMs < timings.leaseTtlMs);
  assert.ok(timings.renewPeriodMs + loopIntervalMs + timings.storeTimeoutMs + timings.statusTimeoutMs < timings.leaseTtlMs);
});

test('the lease TTL must exceed renew period + 2 × store timeout (a failed renewal and its retry fit in it)', () => {
  const timings = { MYSQL_HA_RENEW_PERIOD_MS: '1000', MYSQL_HA_STORE_TIMEOUT_MS: '1000', MYSQL_HA_LOOP_INTERVAL_MS: '100', MYSQL_HA_STATUS_TIMEOUT_MS: '100' };
  const message = refused(env({ ...timings, MYSQL_HA_LEASE_TTL_MS: '3000' }), 'MYSQL_HA_LEASE_TTL_MS');
  assert.match(message, /MYSQL_HA_RENEW_PERIOD_MS/);
  assert.match(message, /MYSQL_HA_STORE_TIMEOUT_MS/);
  assert.match(message, /got 3000 ms/);
  assert.equal(loadRunConfig(env({ ...timings, MYSQL_HA_LEASE_TTL_MS: '3001' })).timings.leaseTtlMs, 3001);
});

test('the lease TTL must exceed renew period + loop interval + store timeout + status timeout (the holder fences before it can expire)', () => {
  const timings = { MYSQL_HA_RENEW_PERIOD_MS: '1000', MYSQL_HA_STORE_TIMEOUT_MS: '1000', MYSQL_HA_LOOP_INTERVAL_MS: '2000', MYSQL_HA_STATUS_TIMEOUT_MS: '500' };
  const message = refused(env({ ...timings, MYSQL_HA_LEASE_TTL_MS: '4500' }), 'MYSQL_HA_LEASE_TTL_MS');
  assert.match(message, /MYSQL_HA_LOOP_INTERVAL_MS/);
  assert.match(message, /MYSQL_HA_STATUS_TIMEOUT_MS/);
  assert.match(message, /got 4500 ms/);
  const config = loadRunConfig(env({ ...timings, MYSQL_HA_LEASE_TTL_MS: '4501' }));
  assert.deepEqual(
    { ttl: config.timings.leaseTtlMs, renew: config.timings.renewPeriodMs, storeTimeout: config.timings.storeTimeoutMs, loop: config.loopIntervalMs },
    { ttl: 4501, renew: 1000, storeTimeout: 1000, loop: 2000 },
  );
  // The fence margin is documented as one loop tick, one store call and one status timeout.
  assert.equal(config.timings.fenceMarginMs, 2000 + 1000 + 500);
  assert.ok(config.timings.fenceMarginMs + config.timings.renewPeriodMs < config.timings.leaseTtlMs);
});

test('a TTL breaking both rules is reported under MYSQL_HA_LEASE_TTL_MS for each rule', () => {
  // 2000 + 2 × 2000 = 6000 and 2000 + 500 + 2000 + 1000 (the default status timeout) = 5500 ms, both above the TTL.
  const timings = { MYSQL_HA_RENEW_PERIOD_MS: '2000', MYSQL_HA_STORE_TIMEOUT_MS: '2000', MYSQL_HA_LOOP_INTERVAL_MS: '500', MYSQL_HA_LEASE_TTL_MS: '4000' };
  refused(env(timings), 'MYSQL_HA_LEASE_TTL_MS', 'MYSQL_HA_LEASE_TTL_MS');
});

test('timings out of their ranges, or not whole numbers, are refused and named', () => {
  refused(env({ MYSQL_HA_LEASE_TTL_MS: '1999' }), 'MYSQL_HA_LEASE_TTL_MS');
  refused(env({ MYSQL_HA_RENEW_PERIOD_MS: '99' }), 'MYSQL_HA_RENEW_PERIOD_MS');
  refused(env({ MYSQL_HA_STORE_TIMEOUT_MS: '1.5' }), 'MYSQL_HA_STORE_TIMEOUT_MS');
  refused(env({ MYSQL_HA_LOOP_INTERVAL_MS: 'soon' }), 'MYSQL_HA_LOOP_INTERVAL_MS');
  refused(env({ MYSQL_HA_FAILOVER_WINDOW_MS: '-1' }), 'MYSQL_HA_FAILOVER_WINDOW_MS');
});

test('the etcd backend needs its endpoints; they become a list of URLs', () => {
  const message = refused(env({ MYSQL_HA_LEASE_BACKEND: 'etcd' }), 'MYSQL_HA_ETCD_ENDPOINTS');
  assert.match(message, /MYSQL_HA_ETCD_ENDPOINTS: required with MYSQL_HA_LEASE_BACKEND=etcd/);
  const config = loadRunConfig(env({ MYSQL_HA_LEASE_BACKEND: 'etcd', MYSQL_HA_ETCD_ENDPOINTS: 'http://10.0.0.1:2379,https://etcd.example:2379' }));
  assert.deepEqual(config.lease, { backend: 'etcd', endpoints: ['http://10.0.0.1:2379', 'https://etcd.example:2379'] });
  refused(env({ MYSQL_HA_LEASE_BACKEND: 'etcd', MYSQL_HA_ETCD_ENDPOINTS: '10.0.0.1:2379' }), 'MYSQL_HA_ETCD_ENDPOINTS');
  refused(env({ MYSQL_HA_LEASE_BACKEND: 'etcd', MYSQL_HA_ETCD_ENDPOINTS: 'http://a:2379, http://b:2379' }), 'MYSQL_HA_ETCD_ENDPOINTS');
});

test('the Kubernetes Lease is the default backend; an unknown backend is refused', () => {
  assert.deepEqual(loadRunConfig(env()).lease, { backend: 'kubernetes' });
  refused(env({ MYSQL_HA_LEASE_BACKEND: 'zookeeper' }), 'MYSQL_HA_LEASE_BACKEND');
});

test('lossless mode: auto is on with 3 or more pods and off with fewer; on and off are taken as they are', () => {
  const lossless = (overrides: Env) => loadRunConfig(env(overrides)).lossless;
  assert.equal(lossless({}), true);
  assert.equal(lossless({ MYSQL_HA_LOSSLESS: 'auto', MYSQL_HA_REPLICAS: '5' }), true);
  assert.equal(lossless({ MYSQL_HA_LOSSLESS: 'auto', MYSQL_HA_REPLICAS: '2' }), false);
  // Explicit peers count too.
  assert.equal(lossless({ MYSQL_HA_PEERS: 'mysql-ha-0=10.0.0.1,mysql-ha-1=10.0.0.2,mysql-ha-2=10.0.0.3' }), true);
  assert.equal(lossless({ MYSQL_HA_PEERS: 'mysql-ha-0=10.0.0.1,mysql-ha-1=10.0.0.2' }), false);
  assert.equal(lossless({ MYSQL_HA_LOSSLESS: 'on', MYSQL_HA_REPLICAS: '2' }), true);
  assert.equal(lossless({ MYSQL_HA_LOSSLESS: 'off' }), false);
  refused(env({ MYSQL_HA_LOSSLESS: 'yes' }), 'MYSQL_HA_LOSSLESS');
});

test('explicit peers and a Service name decide where the peers are reached', () => {
  const explicit = loadRunConfig(env({ MYSQL_HA_PEERS: 'mysql-ha-0=10.0.0.1,mysql-ha-1=10.0.0.2' }));
  assert.deepEqual(explicit.peers, [
    { name: 'mysql-ha-0', host: '10.0.0.1' },
    { name: 'mysql-ha-1', host: '10.0.0.2' },
  ]);
  const service = loadRunConfig(env({ MYSQL_HA_SERVICE: 'db-hl', MYSQL_HA_REPLICAS: '2' }));
  assert.deepEqual(
    service.peers.map((peer) => peer.host),
    ['mysql-ha-0.db-hl', 'mysql-ha-1.db-hl'],
  );
  refused(env({ MYSQL_HA_PEERS: 'mysql-ha-0 10.0.0.1' }), 'MYSQL_HA_PEERS');
  refused(env({ MYSQL_HA_SERVICE: 'Not_A_Name' }), 'MYSQL_HA_SERVICE');
  refused(env({ MYSQL_HA_REPLICAS: '0' }), 'MYSQL_HA_REPLICAS');
});

test('a peers file (MYSQL_HA_PEERS_FILE, the sandbox scales with it) is read at start and again as it changes; a bad one keeps the last list', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'mysql-ha-peers-')), 'peers');
  writeFileSync(file, 'mysql-ha-0=127.0.10.1,mysql-ha-1=127.0.10.2,mysql-ha-2=127.0.10.3\n');
  const config = loadRunConfig(env({ MYSQL_HA_PEERS_FILE: file }));
  assert.deepEqual(
    config.peers.map((peer) => peer.host),
    ['127.0.10.1', '127.0.10.2', '127.0.10.3'],
  );
  assert.deepEqual(config.peersFile, { path: file, refreshMs: 30_000 });
  assert.equal(config.statefulSetPeers, null, 'the StatefulSet is not asked');

  const { logger, lines } = captureLogger();
  const peers = new PeersFile(file, 'mysql-ha-1', config.peers, logger);
  writeFileSync(file, 'mysql-ha-0=127.0.10.1,mysql-ha-1=127.0.10.2,mysql-ha-2=127.0.10.3,mysql-ha-3=127.0.10.4');
  peers.refresh();
  assert.deepEqual(
    peers.current.map((peer) => peer.name),
    ['mysql-ha-0', 'mysql-ha-1', 'mysql-ha-2', 'mysql-ha-3'],
  );
  assert.match(lines.at(-1)!.msg, /lists 4 pods: peers updated$/);
  for (const bad of ['mysql-ha-0=127.0.10.1', 'not a list']) {
    writeFileSync(file, bad);
    peers.refresh();
    peers.refresh();
    assert.equal(peers.current.length, 4, `kept after "${bad}"`);
  }
  assert.deepEqual(
    lines.filter((line) => /keeping the last peers$/.test(line.msg)).map((line) => line.msg.replace(file, 'FILE')),
    [
      'MYSQL_HA_PEERS_FILE: FILE does not list this pod (mysql-ha-1); keeping the last peers',
      'MYSQL_HA_PEERS_FILE: FILE is not a comma-separated list of pod=host; keeping the last peers',
    ],
    'each problem logged once',
  );
  writeFileSync(file, 'mysql-ha-0=127.0.10.1,mysql-ha-1=127.0.10.2');
  refused(env({ MYSQL_HA_PEERS_FILE: file, MYSQL_HA_PEERS: 'mysql-ha-0=10.0.0.1,mysql-ha-1=10.0.0.2' }), 'MYSQL_HA_PEERS_FILE');
  refused(env({ MYSQL_HA_PEERS_FILE: join(tmpdir(), 'no-such-peers-file') }), 'MYSQL_HA_PEERS_FILE');
});

test('the cluster name defaults to the StatefulSet name and must be a DNS label', () => {
  assert.equal(loadRunConfig(env()).clusterName, 'mysql-ha');
  assert.equal(loadRunConfig(env({ MYSQL_HA_CLUSTER_NAME: 'orders' })).clusterName, 'orders');
  refused(env({ MYSQL_HA_CLUSTER_NAME: 'Orders_DB' }), 'MYSQL_HA_CLUSTER_NAME');
});

test('the switchover token is optional, from the variable or a file, and refused when empty or given twice', () => {
  assert.equal(loadRunConfig(env()).switchoverToken, null);
  assert.equal(loadRunConfig(env({ MYSQL_HA_SWITCHOVER_TOKEN: 'let-me-in' })).switchoverToken, 'let-me-in');
  const dir = mkdtempSync(join(tmpdir(), 'mha-config-'));
  writeFileSync(join(dir, 'token'), 'from-file\n');
  assert.equal(loadRunConfig(env({ MYSQL_HA_SWITCHOVER_TOKEN_FILE: join(dir, 'token') })).switchoverToken, 'from-file');
  refused(env({ MYSQL_HA_SWITCHOVER_TOKEN: '' }), 'MYSQL_HA_SWITCHOVER_TOKEN');
  refused(env({ MYSQL_HA_SWITCHOVER_TOKEN: 'a', MYSQL_HA_SWITCHOVER_TOKEN_FILE: join(dir, 'token') }), 'MYSQL_HA_SWITCHOVER_TOKEN');
});

test('switches take only true or false', () => {
  const defaults = loadRunConfig(env());
  assert.equal(defaults.paused, false);
  assert.equal(defaults.autoRebuild, true);
  const flipped = loadRunConfig(env({ MYSQL_HA_PAUSED: 'true', MYSQL_HA_AUTO_REBUILD: 'false' }));
  assert.equal(flipped.paused, true);
  assert.equal(flipped.autoRebuild, false);
  refused(env({ MYSQL_HA_PAUSED: 'yes', MYSQL_HA_AUTO_REBUILD: '0' }), 'MYSQL_HA_PAUSED', 'MYSQL_HA_AUTO_REBUILD');
});

test("tags: Patroni's nofailover, failover priority and noloadbalance; empty (an absent pod annotation) means unset", () => {
  assert.deepEqual(loadRunConfig(env()).tags, { nofailover: false, failoverPriority: 1, noloadbalance: false });
  const tagged = loadRunConfig(env({ MYSQL_HA_NOFAILOVER: 'true', MYSQL_HA_FAILOVER_PRIORITY: '0', MYSQL_HA_NOLOADBALANCE: 'true' }));
  assert.deepEqual(tagged.tags, { nofailover: true, failoverPriority: 0, noloadbalance: true });
  const unannotated = loadRunConfig(env({ MYSQL_HA_NOFAILOVER: '', MYSQL_HA_FAILOVER_PRIORITY: '', MYSQL_HA_NOLOADBALANCE: '' }));
  assert.deepEqual(unannotated.tags, { nofailover: false, failoverPriority: 1, noloadbalance: false });
  refused(env({ MYSQL_HA_NOFAILOVER: 'yes', MYSQL_HA_FAILOVER_PRIORITY: '-1' }), 'MYSQL_HA_NOFAILOVER', 'MYSQL_HA_FAILOVER_PRIORITY');
});

test('account and database names are plain SQL names', () => {
  const config = loadRunConfig(env({ MYSQL_HA_APP_USER: 'orders', MYSQL_HA_APP_DATABASE: 'orders_db' }));
  assert.deepEqual({ user: config.app.user, database: config.app.database }, { user: 'orders', database: 'orders_db' });
  const message = refused(
    env({ MYSQL_HA_APP_DATABASE: 'orders-db', MYSQL_HA_AGENT_USER: "x'; DROP USER root" }),
    'MYSQL_HA_AGENT_USER',
    'MYSQL_HA_APP_DATABASE',
  );
  assert.match(message, /letters, digits and _ only/);
});

test('ports are whole numbers from 1 to 65535', () => {
  const config = loadRunConfig(env({ MYSQL_HA_MYSQL_PORT: '3307', MYSQL_HA_HTTP_PORT: '9090' }));
  assert.deepEqual([config.mysql.port, config.http.port], [3307, 9090]);
  refused(env({ MYSQL_HA_MYSQL_PORT: '70000', MYSQL_HA_HTTP_PORT: '0' }), 'MYSQL_HA_MYSQL_PORT', 'MYSQL_HA_HTTP_PORT');
});

test('stage config needs only the agent password, and checks the same variables', () => {
  assert.equal(loadStageConfig({ POD_NAME: 'mysql-ha-0', MYSQL_HA_AGENT_PASSWORD: 'a' }).agent.password, 'a');
  assert.throws(
    () => loadStageConfig({ POD_NAME: 'mysql-ha-0', MYSQL_HA_FLAVOR: 'postgres' }),
    (error: unknown) => {
      assert.deepEqual(flaggedVariables(error), ['MYSQL_HA_FLAVOR', 'MYSQL_HA_AGENT_PASSWORD']);
      return true;
    },
  );
});
