// The end-to-end suite both flavours must pass, on real servers and real agent processes.
// The tests of a describe share one cluster, started in `before`; each test creates the tables
// it writes to and starts from a healthy cluster, so it can run alone (--test-name-pattern).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { createConnection } from 'mysql2/promise';
import { DEFAULT_ADMIN_USER, DEFAULT_AGENT_USER } from '../../agent/config.ts';
import type { AgentStatus } from '../../agent/http/status.ts';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { LocalServer } from '../../agent/mysql/local-server.ts';
import { MysqlObserver } from '../../agent/mysql/observer.ts';
import { caDirOf, issueCertificate } from '../../agent/sandbox/certificates.ts';
import { AGENT_PORT, isRunning, MYSQL_PORT } from '../../agent/sandbox/pod.ts';
import { queryRows, type Row, TestCluster, TestPod, waitFor } from '../support/cluster.ts';
import { replicationTls } from '../support/replication-tls.ts';
import { rootLoginsAccepted } from '../support/root-login.ts';

const DB = 'app';

async function appQuery<T extends object = Row>(cluster: TestCluster, pod: TestPod, sql: string, values?: unknown[]): Promise<T[]> {
  const connection = await pod.app(cluster.secrets.app, DB);
  try {
    return await queryRows<T>(connection, sql, values);
  } finally {
    await connection.end();
  }
}

/** A table of this test's own on the primary, replicated to every replica before the test uses it. */
async function createTable(cluster: TestCluster, table: string): Promise<void> {
  await appQuery(cluster, cluster.primary, `CREATE TABLE ${table} (id INT PRIMARY KEY, note VARCHAR(64))`);
  for (const replica of cluster.replicas) {
    await waitFor(`table ${table} on ${replica.name}`, async () => (await replica.adminQuery('SHOW TABLES FROM app LIKE ?', [table])).length === 1, 30_000);
  }
}

/** Makes a replica's IO thread connect to its source again, as after a network break. */
async function reconnect(replica: TestPod): Promise<void> {
  await replica.adminQuery('STOP REPLICA IO_THREAD');
  await replica.adminQuery('START REPLICA IO_THREAD');
}

/** Whether `user` can log in to a pod's mysqld, over verified TLS unless `tls` is false: 'accepted', or the refusal's error code. */
function login(pod: TestPod, user: string, password: string, tls = true): Promise<string | undefined> {
  return createConnection({
    host: pod.spec.address,
    port: MYSQL_PORT,
    user,
    password,
    ...(tls && { ssl: { ca: readFileSync(join(pod.paths.tls, 'ca.crt'), 'utf8') } }),
  }).then(
    (connection) => connection.end().then(() => 'accepted'),
    (error: { code?: string }) => error.code,
  );
}

/** The serial number of the certificate a pod's agent presents to a new HTTPS client, verified with the cluster's CA. */
async function agentSerial(pod: TestPod): Promise<string> {
  const socket = tlsConnect({ host: pod.spec.address, port: AGENT_PORT, ca: readFileSync(pod.caFile!) });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerCertificate().serialNumber;
  } finally {
    socket.destroy();
  }
}

/** The serial number of the certificate a pod's mysqld presents to a new client (the application). */
async function presentedSerial(cluster: TestCluster, pod: TestPod): Promise<string> {
  const connection = await createConnection({
    host: pod.spec.address,
    port: MYSQL_PORT,
    user: 'app',
    password: cluster.secrets.app,
    ssl: { rejectUnauthorized: false },
  });
  try {
    return (connection as unknown as { connection: { stream: TLSSocket } }).connection.stream.getPeerCertificate().serialNumber;
  } finally {
    await connection.end();
  }
}

async function assertReplicating(cluster: TestCluster): Promise<void> {
  for (const replica of cluster.replicas) {
    const status = await replica.status();
    assert.equal(status.role, 'replica', `${replica.name} role`);
    assert.equal(status.replication?.source, cluster.primary.name);
    assert.equal(status.replication?.ioRunning, true, `${replica.name} IO thread`);
    assert.equal(status.replication?.sqlRunning, true, `${replica.name} SQL thread`);
    assert.equal(status.readOnly, true);
  }
  const primary = await cluster.primary.status();
  assert.equal(primary.role, 'primary');
  assert.equal(primary.readOnly, false);
}

/** Reads row `id` of `table` on `pod` until it is there. */
async function waitForRow(cluster: TestCluster, pod: TestPod, table: string, id: number): Promise<string> {
  const row = await waitFor(
    `${table} row ${id} on ${pod.name}`,
    async () => (await appQuery<{ note: string }>(cluster, pod, `SELECT note FROM ${table} WHERE id = ?`, [id]).catch(() => []))[0],
    30_000,
  );
  return row.note;
}

async function writeOnPrimaryReadEverywhere(cluster: TestCluster, table: string, id: number): Promise<void> {
  await appQuery(cluster, cluster.primary, `INSERT INTO ${table} VALUES (?, ?)`, [id, `row ${id}`]);
  for (const replica of cluster.replicas) assert.equal(await waitForRow(cluster, replica, table, id), `row ${id}`);
}

/** Every replica refuses an insert as read-only, and the row it was asked to write is not there afterwards. */
async function assertReplicasRefuseWrites(cluster: TestCluster, table: string): Promise<void> {
  for (const replica of cluster.replicas) {
    const id = 999_000 + Number(replica.name.at(-1));
    await assert.rejects(
      appQuery(cluster, replica, `INSERT INTO ${table} VALUES (?, ?)`, [id, 'on a replica']),
      (error: { errno?: number; message: string }) => {
        assert.equal(error.errno, 1290, error.message); // ER_OPTION_PREVENTS_STATEMENT: read-only
        return true;
      },
    );
    assert.deepEqual(await replica.adminQuery(`SELECT id FROM app.${table} WHERE id = ?`, [id]), [], `${replica.name} stored a refused row`);
  }
}

/** Checked with the servers' own view, not the agent's GTID arithmetic. */
async function assertNoErrantGtids(cluster: TestCluster): Promise<void> {
  if (cluster.flavor === 'mysql') {
    for (const replica of cluster.replicas) {
      const executed = String((await replica.adminRow('SELECT @@gtid_executed AS executed')).executed);
      const { subset } = await cluster.primary.adminRow('SELECT GTID_SUBSET(?, @@gtid_executed) AS subset', [executed]);
      assert.equal(Number(subset), 1, `${replica.name} executed ${executed}, not a subset of the primary's`);
    }
    return;
  }
  // MariaDB: every transaction a replica logged must come from the primary's server id, no further than the primary got.
  const { serverId, state } = await cluster.primary.adminRow('SELECT @@server_id AS serverId, @@gtid_binlog_state AS state');
  const primaryLast = new Map(
    String(state)
      .split(',')
      .filter(Boolean)
      .map((gtid) => {
        const [d, , n] = gtid.split('-');
        return [d, Number(n)];
      }),
  );
  for (const replica of cluster.replicas) {
    const replicaState = String((await replica.adminRow('SELECT @@gtid_binlog_state AS state')).state);
    for (const gtid of replicaState.split(',').filter(Boolean)) {
      const [domain, origin, seq] = gtid.split('-');
      assert.equal(Number(origin), Number(serverId), `${replica.name} logged ${gtid}, which the primary never wrote`);
      assert.ok(Number(seq) <= (primaryLast.get(domain!) ?? -1), `${replica.name} is ahead of the primary: ${gtid}`);
    }
  }
}

/**
 * A write on this node past read-only, as a careless admin would do: kept out of the binary log
 * (on this node only), or `logged` (a transaction of this node's own, which the primary never had).
 */
async function writeLocally(pod: TestPod, sql: string, values: unknown[], logged = false): Promise<void> {
  const connection = await pod.admin();
  try {
    if (!logged) await connection.query('SET SESSION sql_log_bin = 0');
    if (pod.runtime.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = OFF');
    await connection.query(sql, values);
  } finally {
    if (pod.runtime.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = ON');
    await connection.end();
  }
}

/**
 * The agent's next `count` observations after `since` (its /status document carries the time of
 * the observation it is based on): what it saw, and so what it left as it was, tick after tick.
 * This is the positive evidence that the agent looked again and did not act, instead of a sleep.
 */
async function nextObservations(pod: TestPod, since: AgentStatus, count: number): Promise<AgentStatus[]> {
  const seen: AgentStatus[] = [];
  let last = Date.parse(since.observedAt ?? '');
  await waitFor(`${count} more observations by ${pod.name}'s agent`, async () => {
    const status = await pod.status();
    const at = Date.parse(status.observedAt ?? '');
    if (at > last) {
      seen.push(status);
      last = at;
    }
    return seen.length >= count;
  });
  return seen;
}

export function replicationSuite(flavor: Flavor): void {
  describe(`${flavor}: three fresh pods started together`, () => {
    let cluster: TestCluster;

    before(async () => {
      const started = Date.now();
      // Long grace periods (for a mysqld that does not answer, and one that is gone): the primary
      // keeps its lease while its mysqld restarts, so this suite sees replicas reconnect to the
      // same primary (failover has its own suite).
      // HAProxy too: its checks of the agents' HTTPS are verified against the sandbox's CA.
      cluster = await TestCluster.start(flavor, {
        addressPrefix: '127.0.10.',
        haproxy: true,
        env: { MYSQL_HA_MYSQLD_DOWN_GRACE_MS: '600000', MYSQL_HA_MYSQLD_GONE_GRACE_MS: '600000' },
      });
      await cluster.waitHealthy();
      console.log(`# ${flavor}: 3 pods from first start to all healthy in ${Date.now() - started} ms (data dirs initialised first)`);
    });
    after(async () => cluster?.destroy());

    test('both replicas run their IO and SQL threads; the primary is writable', async () => {
      await cluster.waitHealthy();
      await assertReplicating(cluster);
    });

    test('a row written on the primary is read on both replicas', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'written_everywhere');
      await writeOnPrimaryReadEverywhere(cluster, 'written_everywhere', 1);
    });

    test('a write on a replica is refused', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'refused_on_replicas');
      await assertReplicasRefuseWrites(cluster, 'refused_on_replicas');
    });

    test('no root account lets anyone in without a password, over the socket or TCP, on any pod', async () => {
      const accepted = (await Promise.all(cluster.pods.map((pod) => rootLoginsAccepted(pod, MYSQL_PORT)))).flat();
      assert.deepEqual(accepted, []);
    });

    test("replication is encrypted and verified: each replica checks its source's certificate with the CA, the replication account needs TLS", async () => {
      await cluster.waitHealthy();
      for (const replica of cluster.replicas) {
        assert.deepEqual(await replicationTls(flavor, replica), { encrypted: true, caFile: join(replica.paths.tls, 'ca.crt'), verified: true }, replica.name);
      }
      // Streaming with an account that cannot log in without TLS: the channel is encrypted.
      const primary = cluster.primary;
      const plain = await login(primary, 'mysqlha_repl', cluster.secrets.replication, false);
      assert.equal(plain, 'ER_ACCESS_DENIED_ERROR', 'the replication account logged in without TLS');
      assert.equal(await login(primary, 'mysqlha_repl', cluster.secrets.replication), 'accepted', 'the replication account with TLS (the password is right)');
      for (const pod of cluster.pods) {
        const { warnings } = await pod.status();
        assert.deepEqual(
          warnings.filter((warning) => warning.includes('MYSQL_HA_TLS_DIR')),
          [],
          `${pod.name} warns of unverified TLS`,
        );
      }
    });

    test('a replica refuses a source whose certificate names another host, says why in /status, and resumes once it is right', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'after_wrong_certificate');
      const primary = cluster.primary;
      const replica = cluster.replicas[0]!;
      const reloadTls = dialectForFlavor(flavor).reloadTls;
      issueCertificate(caDirOf(cluster.dir), primary.paths.tls, ['somewhere-else.example']);
      try {
        await primary.adminQuery(reloadTls);
        // A new connection: the one streaming now was verified when it was made.
        await reconnect(replica);
        let status: AgentStatus | undefined;
        await waitFor(`${replica.name} refusing the certificate`, async () => {
          status = await replica.status();
          return !status.healthy && /certificate|SSL/i.test(status.replication?.lastError ?? '');
        });
        console.log(`# ${flavor}: ${replica.name} says: ${status?.reason}`);
        assert.equal((await replica.agent('/health')).status, 503);
        // An agent connecting to that mysqld (a hand-over's wait) refuses it the same way.
        const asPeer = new LocalServer({
          host: primary.spec.address,
          port: MYSQL_PORT,
          user: 'mysqlha_agent',
          password: cluster.secrets.agent,
          node: primary.name,
          tls: { verify: true, caFile: join(replica.paths.tls, 'ca.crt') },
        });
        await assert.rejects(asPeer.query('SELECT 1'), /does not match certificate/);
        await asPeer.close();
      } finally {
        issueCertificate(caDirOf(cluster.dir), primary.paths.tls, [primary.name, primary.spec.address]);
        await primary.adminQuery(reloadTls);
      }
      await cluster.waitHealthy();
      await writeOnPrimaryReadEverywhere(cluster, 'after_wrong_certificate', 1);
    });

    test('a renewed certificate is presented without a restart: the agent has mysqld load it again, and replication goes on', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'after_renewal');
      const primary = cluster.primary;
      const mysqldPid = primary.mysqldPid;
      issueCertificate(caDirOf(cluster.dir), primary.paths.tls, [primary.name, primary.spec.address]);
      const renewed = new X509Certificate(readFileSync(join(primary.paths.tls, 'tls.crt'))).serialNumber;
      await waitFor(`${primary.name} presenting the renewed certificate`, async () => (await presentedSerial(cluster, primary)) === renewed, 30_000);
      assert.equal(primary.mysqldPid, mysqldPid, 'mysqld was not restarted');
      assert.equal(await agentSerial(primary), renewed, "the agent's HTTPS presents it too");
      // New replication connections verify the renewed certificate.
      for (const replica of cluster.replicas) await reconnect(replica);
      await cluster.waitHealthy();
      await writeOnPrimaryReadEverywhere(cluster, 'after_renewal', 1);
    });

    test('a transaction written on a streaming replica past read-only makes it errant within seconds: no reads, no lease; reinit, it rejoins', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'errant_write');
      const replica = cluster.replicas[0]!;
      // MariaDB's administrator writes through read_only (READ_ONLY ADMIN); MySQL's lifts super_read_only.
      await writeLocally(replica, 'INSERT INTO app.errant_write VALUES (?, ?)', [1, 'only on this replica'], true);
      const seen = Date.now();
      const status = await waitFor(`${replica.name} found errant`, async () => {
        const current = await replica.status();
        return current.decision?.state === 'replica-errant' ? current : undefined;
      });
      console.log(`# ${flavor}: ${replica.name} errant ${Date.now() - seen} ms after the write: ${status.decision?.reason}`);
      assert.match(status.decision?.reason ?? '', /but this node has transactions the primary never had \(errant GTIDs .+\)/);
      assert.equal(status.replication?.ioRunning, true, 'it keeps streaming');
      assert.equal(status.healthy, false);
      assert.equal((await replica.agent('/read-only')).status, 503);
      await waitFor(`HAProxy sending ${replica.name} no reads`, async () => (await cluster.haproxyState('mysql-readable', replica)) === 'DOWN', 30_000);
      const refused = await cluster.primary.control('/switchover', { candidate: replica.name });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.match((refused.body as { reason: string }).reason, new RegExp(`${replica.name} cannot take over: .*errant`));

      // The fix /status names: a copy of another pod (the other replica, so the primary is not loaded);
      // MySQL clones it, MariaDB streams a mariadb-backup between the two agents.
      const reinit = await replica.control('/reinit');
      assert.equal(reinit.status, 200, JSON.stringify(reinit.body));
      assert.equal((reinit.body as { donor: string }).donor, cluster.replicas[1]!.name);
      // The copy's stage and bytes are in /status while it runs (MySQL: the clone's own steps too).
      const copying = await waitFor(`${replica.name} showing its copy's progress`, async () => (await replica.statusOrUndefined())?.runningAction?.progress);
      assert.equal(copying.donor, cluster.replicas[1]!.name);
      console.log(`# ${flavor}: /status during the copy: ${JSON.stringify(copying)}`);
      await cluster.waitHealthy();
      assert.deepEqual(await replica.adminQuery('SELECT id FROM app.errant_write'), [], 'the errant row is gone with the copy');
      assert.match(String((await replica.agent('/metrics')).body), /^mysql_ha_reinits_total 1$/m, 'the copy is counted');
      await writeOnPrimaryReadEverywhere(cluster, 'errant_write', 2);
      await assertNoErrantGtids(cluster);
    });

    test('an agent with a certificate of another CA is refused: HAProxy sends it nothing, no lease is handed to it; with ours it is back', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'after_other_ca');
      const primary = cluster.primary;
      const impostor = cluster.replicas[1]!;
      // Its whole Secret from another CA (the pod's ca.crt too): its agent loads it within one check.
      issueCertificate(join(cluster.dir, 'other-ca'), impostor.paths.tls, [impostor.name, impostor.spec.address]);
      try {
        await waitFor(`HAProxy refusing ${impostor.name}'s agent`, async () => (await cluster.haproxyState('mysql-readable', impostor)) === 'DOWN', 30_000);
        const refused = await primary.control('/switchover', { candidate: impostor.name });
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        const { reason } = refused.body as { reason: string };
        console.log(`# ${flavor}: switchover to ${impostor.name} refused: ${reason}`);
        assert.match(reason, new RegExp(`${impostor.name} cannot take over: agent unreachable \\(.*certificate`));
        assert.equal(await cluster.haproxyState('mysql-readable', cluster.replicas[0]!), 'UP', 'the verified replica keeps its reads');
      } finally {
        issueCertificate(caDirOf(cluster.dir), impostor.paths.tls, [impostor.name, impostor.spec.address]);
      }
      await waitFor(`HAProxy checking ${impostor.name} again`, async () => (await cluster.haproxyState('mysql-readable', impostor)) === 'UP', 30_000);
      await cluster.waitHealthy();
      await writeOnPrimaryReadEverywhere(cluster, 'after_other_ca', 1);
    });

    test("a commit waiting for a replica's acknowledgement shows in the primary's mysql_ha_semi_sync_waiting_sessions until one acknowledges", async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'waiting_commit');
      const waiting = async () => /^mysql_ha_semi_sync_waiting_sessions (\S+)$/m.exec(String((await cluster.primary.agent('/metrics')).body))?.[1];
      assert.equal(await waiting(), '0');
      // No replica receives anything: their agents would start the IO threads again at once.
      for (const replica of cluster.replicas) {
        await replica.stopAgent('SIGTERM');
        await replica.adminQuery('STOP REPLICA IO_THREAD');
      }
      const admin = await cluster.primary.admin();
      try {
        // Lossless: the commit waits, without a time limit, for an acknowledgement.
        const commit = admin.query('INSERT INTO app.waiting_commit VALUES (1, ?)', ['waits']);
        await waitFor("the primary's agent counting the waiting commit", async () => (await waiting()) === '1', 30_000);
        for (const replica of cluster.replicas) replica.startAgent();
        await commit;
        await waitFor('no commit waiting once the replicas acknowledge', async () => (await waiting()) === '0', 30_000);
      } finally {
        await admin.end();
      }
      await cluster.waitHealthy();
    });

    test("every replica's executed GTIDs are a subset of the primary's", async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'gtid_subset');
      for (const id of [1, 2, 3]) await writeOnPrimaryReadEverywhere(cluster, 'gtid_subset', id);
      await assertNoErrantGtids(cluster);
    });

    test("the agent's observer reads a replica's real state, and an unreachable server is data, not an exception", async () => {
      await cluster.waitHealthy();
      const [replica] = cluster.replicas;
      const dialect = dialectForFlavor(flavor);
      const tls = { verify: true, caFile: join(replica!.paths.tls, 'ca.crt') } as const;
      const connect = (host: string, port: number) =>
        new LocalServer({ host, port, user: 'mysqlha_agent', password: cluster.secrets.agent, node: replica!.name, connectTimeoutMs: 1000, tls });
      const server = connect(replica!.spec.address, MYSQL_PORT);
      try {
        const seen = await new MysqlObserver(server, dialect, [DEFAULT_AGENT_USER, DEFAULT_ADMIN_USER], 1000).observe(Date.now());
        assert.ok(seen.up, `observed down: ${seen.up ? '' : seen.error}`);
        assert.equal(seen.variables.readOnly, true);
        assert.equal(seen.replica?.sourceHost, cluster.primary.spec.address);
        assert.equal(seen.replica?.sqlRunning, true);
        const root = await replica!.adminRow('SELECT @@server_id AS serverId');
        assert.equal(seen.variables.serverId, Number(root.serverId));
        assert.ok(seen.variables.gtidExecuted.length > 0);
        assert.equal(seen.variables.semiSyncWaiting, 0, 'no commit waits on a replica');
      } finally {
        await server.close();
      }
      const nobody = connect(replica!.spec.address, 1);
      const unreachable = await new MysqlObserver(nobody, dialect, [DEFAULT_AGENT_USER, DEFAULT_ADMIN_USER], 1000).observe(Date.now());
      await nobody.close();
      assert.equal(unreachable.up, false);
      assert.match(unreachable.up ? '' : unreachable.error, new RegExp(`${replica!.name}: cannot connect to mysqld at ${replica!.spec.address}:1`));
    });

    test('a replica whose mysqld is killed catches up after it restarts', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'caught_up');
      const replica = cluster.replicas[0]!;
      await replica.stopMysqld('SIGKILL');
      await waitFor(`${replica.name} reported down`, async () => (await replica.agent('/health')).status === 503);
      for (const id of [10, 11, 12]) await appQuery(cluster, cluster.primary, 'INSERT INTO caught_up VALUES (?, ?)', [id, `row ${id}`]);
      replica.startMysqld();
      await waitFor(`${replica.name} caught up`, async () => {
        const rows = await appQuery<{ n: number }>(cluster, replica, 'SELECT COUNT(*) AS n FROM caught_up WHERE id IN (10, 11, 12)').catch(() => []);
        return Number(rows[0]?.n) === 3;
      });
      await waitFor(`${replica.name} healthy`, async () => (await replica.agent('/health')).status === 200);
    });

    test('a replica whose recorded position lags its binary log (killed right after a DDL) resumes without applying anything twice', {
      skip: flavor === 'mysql' && 'MySQL auto-positions from gtid_executed, which has no separate replica position to lag',
    }, async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'position_lag');
      for (const id of [1, 2]) await appQuery(cluster, cluster.primary, 'INSERT INTO position_lag VALUES (?, ?)', [id, `row ${id}`]);
      const replica = cluster.replicas[0]!;
      await waitForRow(cluster, replica, 'position_lag', 2);
      // What MariaDB leaves when it is killed between logging a DDL and recording its position
      // (seen under SIGKILL): the last GTID in the binary log, the recorded position one before.
      // Rewound while replication is stopped; the agent, which starts it again, may win the race.
      const { binlogPos } = await replica.adminRow('SELECT @@gtid_binlog_pos AS binlogPos');
      const [domain, server, seq] = String(binlogPos).split('-');
      const rewound = `${domain}-${server}-${Number(seq) - 1}`;
      await waitFor(`${replica.name}'s position rewound to ${rewound}`, async () => {
        await replica.adminQuery('STOP REPLICA');
        return replica.adminQuery('SET GLOBAL gtid_slave_pos = ?', [rewound]).then(
          () => true,
          () => false,
        );
      });
      await writeOnPrimaryReadEverywhere(cluster, 'position_lag', 3);
      await waitFor(`${replica.name} healthy`, async () => (await replica.agent('/health')).status === 200);
      const status = await replica.status();
      assert.equal(status.replication?.sqlRunning, true);
      assert.equal(status.replication?.lastError ?? '', '');
    });

    test('replicas reconnect by themselves after the primary restarts', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'after_primary_restart');
      await cluster.primary.stopMysqld('SIGTERM');
      await waitFor('replicas notice the primary is gone', async () => {
        const statuses = await Promise.all(cluster.replicas.map((replica) => replica.status()));
        return statuses.every((status) => status.replication?.ioRunning === false);
      });
      // Its own agent too: until it has looked, its /primary still answers from the observation before the stop.
      await waitFor("the primary's agent notices its mysqld is gone", async () => (await cluster.primary.agent('/primary')).status === 503);
      cluster.primary.startMysqld();
      await waitFor('primary writable again', async () => (await cluster.primary.agent('/primary')).status === 200);
      await writeOnPrimaryReadEverywhere(cluster, 'after_primary_restart', 20);
      await cluster.waitHealthy();
    });

    test('a replica whose SQL thread stops on a conflicting row turns red, says why, and recovers once repaired', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'conflicting');
      const replica = cluster.replicas[1]!;
      await writeLocally(replica, 'INSERT INTO app.conflicting VALUES (?, ?)', [30, 'local only']);
      await appQuery(cluster, cluster.primary, 'INSERT INTO conflicting VALUES (?, ?)', [30, 'from primary']);
      const status = await waitFor(`${replica.name} reports the SQL error`, async () => {
        const current = await replica.status();
        return current.replication?.sqlRunning === false && current.replication.lastError ? current : undefined;
      });
      assert.match(status.replication?.lastError ?? '', /Duplicate entry '30'|1062/);
      assert.equal((await replica.agent('/health')).status, 503);
      assert.equal((await replica.agent('/replica')).status, 503);
      assert.equal((await replica.agent('/read-only')).status, 503);
      // The agent never skips an event: on each of its next observations the SQL thread is still
      // stopped on the same error, and the replica still holds its own row, not the primary's.
      for (const later of await nextObservations(replica, status, 3)) {
        assert.equal(later.replication?.sqlRunning, false, `${replica.name}'s SQL thread restarted at ${later.observedAt}`);
        assert.match(later.replication?.lastError ?? '', /Duplicate entry '30'|1062/);
        assert.equal(later.healthy, false);
      }
      const notes = (await replica.adminQuery('SELECT note FROM app.conflicting WHERE id = 30')).map((row) => row.note);
      assert.deepEqual(notes, ['local only'], `${replica.name} applied the primary's row over its own`);

      await writeLocally(replica, 'DELETE FROM app.conflicting WHERE id = ?', [30]);
      await replica.adminQuery('START REPLICA');
      await waitFor(`${replica.name} healthy after repair`, async () => (await replica.agent('/health')).status === 200);
      assert.equal(await waitForRow(cluster, replica, 'conflicting', 30), 'from primary');
      assert.equal((await replica.agent('/replica')).status, 200);
    });

    test('a replica with a wrong replication password stays unhealthy with a clear error, and its agent keeps running', async () => {
      await cluster.waitHealthy();
      const template = cluster.pods[2]!.spec;
      const wrongPassword = join(cluster.dir, 'secrets', 'wrong-replication-password');
      writeFileSync(wrongPassword, 'not-the-password', { mode: 0o600 });
      const name = 'mysql-ha-3';
      const address = '127.0.10.4';
      const tlsDir = join(cluster.dir, name, 'tls');
      issueCertificate(caDirOf(cluster.dir), tlsDir, [name, address]);
      // A pod of this test's own, stopped at its end: the cluster's three pods are left as they were
      // (their peers file does not list it; it lists them and itself).
      const { MYSQL_HA_PEERS_FILE: peersFile, ...inherited } = template.env;
      const pod = new TestPod(
        {
          name,
          address,
          dir: join(cluster.dir, name),
          env: {
            ...inherited,
            POD_NAME: name,
            MYSQL_HA_PEERS: `${readFileSync(peersFile!, 'utf8').trim()},${name}=${address}`,
            MYSQL_HA_MYSQL_HOST: address,
            MYSQL_HA_HTTP_HOST: address,
            MYSQL_HA_REPLICATION_PASSWORD_FILE: wrongPassword,
            MYSQL_HA_TLS_DIR: tlsDir,
          },
        },
        cluster.primary.runtime,
      );
      try {
        await pod.stage();
        await pod.initialize();
        pod.startMysqld();
        pod.startAgent();
        const agentPid = pod.agentPid;
        const status = await waitFor(`${name} reports the authentication error`, async () => {
          const current = await pod.statusOrUndefined();
          return current?.replication?.lastError ? current : undefined;
        });
        assert.match(status.replication?.lastError ?? '', /Access denied|1045/);
        assert.equal(status.healthy, false);
        assert.equal((await pod.agent('/health')).status, 503);
        // Its agent goes on observing (the same process, tick after tick) and keeps saying why.
        for (const later of await nextObservations(pod, status, 3)) {
          assert.match(later.replication?.lastError ?? '', /Access denied|1045/);
          assert.equal(later.healthy, false);
        }
        assert.equal(pod.agentPid, agentPid);
        assert.ok(isRunning(pod.agentPid), 'the agent must not crash');
        assert.equal((await pod.agent('/liveness')).status, 200);
        assert.equal((await pod.agent('/health')).status, 503);
      } finally {
        await pod.stopAgent('SIGKILL');
        await pod.stopMysqld('SIGKILL');
      }
    });

    test('rotating the replication and application passwords in the Secret: the primary sets them, replicas reconnect with the new one', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'after_rotation');
      const primary = cluster.primary;
      const old = { replication: cluster.secrets.replication, app: cluster.secrets.app };
      const rotated = { replication: `${old.replication}-rotated`, app: `${old.app}-rotated` };
      // As the kubelet changes a mounted Secret: each file replaced at once.
      const setSecret = (passwords: typeof old) => {
        for (const name of ['replication', 'app'] as const) {
          const file = join(cluster.dir, 'secrets', `${name}-password`);
          writeFileSync(`${file}.new`, passwords[name], { mode: 0o600 });
          renameSync(`${file}.new`, file);
        }
      };
      const primarySets = async (passwords: typeof old) => {
        await waitFor(`${primary.name} accepting the Secret's passwords`, async () => {
          const answers = await Promise.all([login(primary, 'app', passwords.app), login(primary, 'mysqlha_repl', passwords.replication)]);
          return answers.every((answer) => answer === 'accepted');
        });
        for (const replica of cluster.replicas) await reconnect(replica);
        await cluster.waitHealthy();
      };
      try {
        setSecret(rotated);
        await primarySets(rotated);
        assert.equal(await login(primary, 'app', old.app), 'ER_ACCESS_DENIED_ERROR', 'the old application password still works');
        assert.equal(await login(primary, 'mysqlha_repl', old.replication), 'ER_ACCESS_DENIED_ERROR', 'the old replication password still works');
        // The application, with its new password, writes on the primary and reads on every replica (which got the password by replication).
        const app = (pod: TestPod) => createConnection({ host: pod.spec.address, port: MYSQL_PORT, user: 'app', password: rotated.app, database: DB });
        const writer = await app(primary);
        await writer.query('INSERT INTO after_rotation VALUES (1, ?)', ['written with the rotated password']);
        await writer.end();
        for (const replica of cluster.replicas) {
          await waitFor(`the row on ${replica.name}`, async () => {
            const reader = await app(replica);
            try {
              return (await queryRows(reader, 'SELECT id FROM after_rotation WHERE id = 1')).length === 1;
            } finally {
              await reader.end();
            }
          });
        }
        await assertNoErrantGtids(cluster);
      } finally {
        // The other tests use the passwords the cluster started with.
        setSecret(old);
        await primarySets(old);
      }
    });
  });

  describe(`${flavor}: replicas started 10 s before the primary`, () => {
    let cluster: TestCluster;

    before(async () => {
      // Clients must use TLS here: the tests' application connections do (with the sandbox's CA).
      cluster = await TestCluster.start(flavor, { addressPrefix: '127.0.11.', replicasFirstMs: 10_000, env: { MYSQL_HA_REQUIRE_SECURE_TRANSPORT: 'true' } });
      await cluster.waitHealthy();
    });
    after(async () => cluster?.destroy());

    test('the replicas waited for the primary without crashing, then replicate', async () => {
      for (const replica of cluster.replicas) {
        assert.ok(isRunning(replica.agentPid), `${replica.name}'s agent is the process that started`);
      }
      await assertReplicating(cluster);
    });

    test('a row written on the primary is read on both replicas, and replicas refuse writes', async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'written_everywhere');
      await writeOnPrimaryReadEverywhere(cluster, 'written_everywhere', 1);
      await assertReplicasRefuseWrites(cluster, 'written_everywhere');
    });

    test("every replica's executed GTIDs are a subset of the primary's", async () => {
      await cluster.waitHealthy();
      await createTable(cluster, 'gtid_subset');
      for (const id of [1, 2, 3]) await writeOnPrimaryReadEverywhere(cluster, 'gtid_subset', id);
      await assertNoErrantGtids(cluster);
    });

    test('with MYSQL_HA_REQUIRE_SECURE_TRANSPORT every pod refuses an application without TLS, and serves it with TLS', async () => {
      await cluster.waitHealthy();
      for (const pod of cluster.pods) {
        const refusal = await createConnection({ host: pod.spec.address, port: MYSQL_PORT, user: 'app', password: cluster.secrets.app, database: DB }).then(
          async (connection) => {
            await connection.end();
            assert.fail(`${pod.name} took a connection without TLS`);
          },
          (error: Error) => error.message,
        );
        // The same account and password over TLS: what was refused is the transport.
        const secure = await pod.app(cluster.secrets.app, DB);
        await secure.end();
        if (pod === cluster.pods[0]) console.log(`# ${flavor}: without TLS: ${refusal}`);
      }
    });
  });
}
