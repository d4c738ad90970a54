// The end-to-end suite both flavours must pass, on real servers and real agent processes.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { isRunning } from '../../agent/sandbox/pod.ts';
import { TestCluster, TestPod, waitFor } from '../support/cluster.ts';

const DB = 'app';

async function appQuery(cluster: TestCluster, pod: TestPod, sql: string, values?: unknown[]): Promise<any[]> {
  const connection = await pod.app(cluster.secrets.app, DB);
  try {
    const [rows] = await connection.query(sql, values);
    return rows as any[];
  } finally {
    await connection.end();
  }
}

async function assertReplicating(cluster: TestCluster): Promise<void> {
  for (const replica of cluster.replicas) {
    const status = await replica.status();
    assert.equal(status.role, 'replica', `${replica.name} role`);
    assert.equal(status.replication.source, cluster.primary.name);
    assert.equal(status.replication.ioRunning, true, `${replica.name} IO thread`);
    assert.equal(status.replication.sqlRunning, true, `${replica.name} SQL thread`);
    assert.equal(status.readOnly, true);
  }
  const primary = await cluster.primary.status();
  assert.equal(primary.role, 'primary');
  assert.equal(primary.readOnly, false);
}

async function writeOnPrimaryReadEverywhere(cluster: TestCluster, id: number): Promise<void> {
  await appQuery(cluster, cluster.primary, 'CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, note VARCHAR(64))');
  await appQuery(cluster, cluster.primary, 'INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
  for (const replica of cluster.replicas) {
    const rows = await waitFor(
      `row ${id} on ${replica.name}`,
      async () => {
        const found = await appQuery(cluster, replica, 'SELECT note FROM items WHERE id = ?', [id]).catch(() => []);
        return found.length === 1 ? found : undefined;
      },
      30_000,
    );
    assert.equal(rows[0].note, `row ${id}`);
  }
}

async function assertReplicasRefuseWrites(cluster: TestCluster): Promise<void> {
  for (const replica of cluster.replicas) {
    await assert.rejects(
      appQuery(cluster, replica, 'INSERT INTO items VALUES (?, ?)', [999_000 + Number(replica.name.at(-1)), 'on a replica']),
      (error: { errno?: number; message: string }) => {
        assert.equal(error.errno, 1290, error.message); // ER_OPTION_PREVENTS_STATEMENT: read-only
        return true;
      },
    );
  }
}

/** Checked with the servers' own view, not the agent's GTID arithmetic. */
async function assertNoErrantGtids(cluster: TestCluster): Promise<void> {
  if (cluster.flavor === 'mysql') {
    for (const replica of cluster.replicas) {
      const [{ executed }] = await replica.rootQuery('SELECT @@gtid_executed AS executed');
      const [{ subset }] = await cluster.primary.rootQuery('SELECT GTID_SUBSET(?, @@gtid_executed) AS subset', [executed]);
      assert.equal(Number(subset), 1, `${replica.name} executed ${executed}, not a subset of the primary's`);
    }
    return;
  }
  // MariaDB: every transaction a replica logged must come from the primary's server id, no further than the primary got.
  const [{ serverId, state }] = await cluster.primary.rootQuery('SELECT @@server_id AS serverId, @@gtid_binlog_state AS state');
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
    const [{ state: replicaState }] = await replica.rootQuery('SELECT @@gtid_binlog_state AS state');
    for (const gtid of String(replicaState).split(',').filter(Boolean)) {
      const [domain, origin, seq] = gtid.split('-');
      assert.equal(Number(origin), Number(serverId), `${replica.name} logged ${gtid}, which the primary never wrote`);
      assert.ok(Number(seq) <= (primaryLast.get(domain!) ?? -1), `${replica.name} is ahead of the primary: ${gtid}`);
    }
  }
}

/** A write that bypasses replication: local on this node only, as a careless admin would do. */
async function writeLocally(pod: TestPod, sql: string, values: unknown[]): Promise<void> {
  const connection = await pod.root();
  try {
    await connection.query('SET SESSION sql_log_bin = 0');
    if (pod.runtime.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = OFF');
    await connection.query(sql, values);
  } finally {
    if (pod.runtime.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = ON');
    await connection.end();
  }
}

export function replicationSuite(flavor: Flavor): void {
  describe(`${flavor}: three fresh pods started together`, () => {
    let cluster: TestCluster;

    before(async () => {
      const started = Date.now();
      // A long grace period: the primary keeps its lease while its mysqld restarts, so this suite
      // sees replicas reconnect to the same primary (failover has its own suite).
      cluster = await TestCluster.start(flavor, { addressPrefix: '127.0.10.', env: { MYSQL_HA_MYSQLD_DOWN_GRACE_MS: '600000' } });
      await cluster.waitHealthy();
      console.log(`# ${flavor}: 3 pods from first start to all healthy in ${Date.now() - started} ms (data dirs initialised first)`);
    });
    after(async () => cluster?.destroy());

    test('both replicas run their IO and SQL threads; the primary is writable', async () => {
      await assertReplicating(cluster);
    });

    test('a row written on the primary is read on both replicas', async () => {
      await writeOnPrimaryReadEverywhere(cluster, 1);
    });

    test('a write on a replica is refused', async () => {
      await assertReplicasRefuseWrites(cluster);
    });

    test("every replica's executed GTIDs are a subset of the primary's", async () => {
      await assertNoErrantGtids(cluster);
    });

    test('a replica whose mysqld is killed catches up after it restarts', async () => {
      const replica = cluster.replicas[0]!;
      await replica.stopMysqld('SIGKILL');
      await waitFor(`${replica.name} reported down`, async () => (await replica.agent('/health')).status === 503);
      for (const id of [10, 11, 12]) await appQuery(cluster, cluster.primary, 'INSERT INTO items VALUES (?, ?)', [id, `row ${id}`]);
      replica.startMysqld();
      await waitFor(
        `${replica.name} caught up`,
        async () => (await appQuery(cluster, replica, 'SELECT COUNT(*) AS n FROM items WHERE id IN (10, 11, 12)').catch(() => [{ n: 0 }]))[0].n === 3,
      );
      await waitFor(`${replica.name} healthy`, async () => (await replica.agent('/health')).status === 200);
    });

    test('replicas reconnect by themselves after the primary restarts', async () => {
      await cluster.primary.stopMysqld('SIGTERM');
      await waitFor('replicas notice the primary is gone', async () => {
        const statuses = await Promise.all(cluster.replicas.map((replica) => replica.status()));
        return statuses.every((status) => status.replication.ioRunning === false);
      });
      cluster.primary.startMysqld();
      await waitFor('primary writable again', async () => (await cluster.primary.agent('/primary')).status === 200);
      await writeOnPrimaryReadEverywhere(cluster, 20);
      await cluster.waitHealthy();
    });

    test('a replica whose SQL thread stops on a conflicting row turns red, says why, and recovers once repaired', async () => {
      const replica = cluster.replicas[1]!;
      await writeLocally(replica, 'INSERT INTO app.items VALUES (?, ?)', [30, 'local only']);
      await appQuery(cluster, cluster.primary, 'INSERT INTO items VALUES (?, ?)', [30, 'from primary']);
      const status = await waitFor(`${replica.name} reports the SQL error`, async () => {
        const current = await replica.status();
        return current.replication?.sqlRunning === false && current.replication.lastError ? current : undefined;
      });
      assert.match(status.replication.lastError, /Duplicate entry '30'|1062/);
      assert.equal((await replica.agent('/health')).status, 503);
      assert.equal((await replica.agent('/replica')).status, 503);
      assert.equal((await replica.agent('/read-only')).status, 503);
      // Still not skipped a few seconds later: the agent never skips an event.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal((await replica.status()).replication.sqlRunning, false);

      await writeLocally(replica, 'DELETE FROM app.items WHERE id = ?', [30]);
      await replica.rootQuery('START REPLICA');
      await waitFor(`${replica.name} healthy after repair`, async () => (await replica.agent('/health')).status === 200);
      const [row] = await appQuery(cluster, replica, 'SELECT note FROM items WHERE id = 30');
      assert.equal(row.note, 'from primary');
      assert.equal((await replica.agent('/replica')).status, 200);
    });

    test('a replica with a wrong replication password stays unhealthy with a clear error, and its agent keeps running', async () => {
      const template = cluster.pods[2]!.spec;
      const wrongPassword = join(cluster.dir, 'secrets', 'wrong-replication-password');
      writeFileSync(wrongPassword, 'not-the-password', { mode: 0o600 });
      const name = 'mysql-ha-3';
      const address = '127.0.10.4';
      const pod = new TestPod(
        {
          name,
          address,
          dir: join(cluster.dir, name),
          env: {
            ...template.env,
            POD_NAME: name,
            MYSQL_HA_PEERS: `${template.env.MYSQL_HA_PEERS},${name}=${address}`,
            MYSQL_HA_MYSQL_HOST: address,
            MYSQL_HA_HTTP_HOST: address,
            MYSQL_HA_REPLICATION_PASSWORD_FILE: wrongPassword,
          },
        },
        cluster.primary.runtime,
      );
      cluster.pods.push(pod);
      await pod.stage();
      await pod.initialize();
      pod.startMysqld();
      pod.startAgent();
      const status = await waitFor(`${name} reports the authentication error`, async () => {
        const current = await pod.status().catch(() => undefined);
        return current?.replication?.lastError ? current : undefined;
      });
      assert.match(status.replication.lastError, /Access denied|1045/);
      assert.equal(status.healthy, false);
      assert.equal((await pod.agent('/health')).status, 503);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      assert.ok(isRunning(pod.agentPid), 'the agent must not crash');
      assert.equal((await pod.agent('/liveness')).status, 200);
      assert.equal((await pod.agent('/health')).status, 503);
    });
  });

  describe(`${flavor}: replicas started 10 s before the primary`, () => {
    let cluster: TestCluster;

    before(async () => {
      cluster = await TestCluster.start(flavor, { addressPrefix: '127.0.11.', replicasFirstMs: 10_000 });
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
      await writeOnPrimaryReadEverywhere(cluster, 1);
      await assertReplicasRefuseWrites(cluster);
    });

    test("every replica's executed GTIDs are a subset of the primary's", async () => {
      await assertNoErrantGtids(cluster);
    });
  });
}
