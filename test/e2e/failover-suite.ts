// Failover, fencing and switchover on real servers, real etcd and real HAProxy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { TestCluster, TestPod, waitFor } from '../support/cluster.ts';
import { WritableSampler, WriteLoad, type WriteLoadTarget } from '../support/write-load.ts';

const PREFIX = '127.0.12.';
const ETCD_PROXY = `${PREFIX}201`;

/** A TCP proxy in front of etcd for one agent, which a test can cut. */
class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(listenHost: string, target: { host: string; port: number }) {
    this.#server = createServer((client) => {
      const upstream = connect(target);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    this.#server.listen(2379, listenHost);
  }

  cut(): void {
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}

function writeTarget(cluster: TestCluster): WriteLoadTarget {
  const described = cluster.sandbox.describe();
  return { ...described.haproxy.write, user: described.app.user, password: described.app.password, database: described.app.database };
}

async function ackedMissingOn(cluster: TestCluster, pod: TestPod, acked: number[]): Promise<number[]> {
  const rows = await pod.rootQuery<{ id: number }>('SELECT id FROM app.acked_writes');
  const present = new Set(rows.map((row) => Number(row.id)));
  return acked.filter((id) => !present.has(id));
}

/** Every node's executed GTIDs are contained in the primary's (checked by the servers themselves where they can). */
async function assertNoErrantGtids(cluster: TestCluster, primary: TestPod): Promise<void> {
  for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
    const [{ executed }] = await pod.rootQuery(cluster.flavor === 'mysql' ? 'SELECT @@gtid_executed AS executed' : 'SELECT @@gtid_binlog_state AS executed');
    if (cluster.flavor === 'mysql') {
      const [{ subset }] = await primary.rootQuery('SELECT GTID_SUBSET(?, @@gtid_executed) AS subset', [executed]);
      assert.equal(Number(subset), 1, `${pod.name} has errant GTIDs: ${executed} is not within ${primary.name}'s`);
    } else {
      const [{ state }] = await primary.rootQuery('SELECT @@gtid_binlog_state AS state');
      const last = new Map(
        String(state)
          .split(',')
          .filter(Boolean)
          .map((gtid) => {
            const [d, s, n] = gtid.split('-');
            return [`${d}-${s}`, Number(n)];
          }),
      );
      for (const gtid of String(executed).split(',').filter(Boolean)) {
        const [d, s, n] = gtid.split('-');
        assert.ok(Number(n) <= (last.get(`${d}-${s}`) ?? -1), `${pod.name} has errant GTID ${gtid}, not within ${primary.name}'s ${state}`);
      }
    }
  }
}

async function waitNewPrimary(cluster: TestCluster, not: TestPod): Promise<TestPod> {
  return waitFor(
    `a new primary other than ${not.name}`,
    async () => {
      const primary = await cluster.currentPrimary(1000).catch(() => undefined);
      return primary && primary !== not ? primary : undefined;
    },
    60_000,
  );
}

interface LoadOutcome {
  load: WriteLoad;
  primary: TestPod;
  sampler: WritableSampler;
  /** From the event to the first write the new primary acknowledged. */
  recoveryMs: number;
  /** From the old primary's last acknowledged write to the new primary's first. */
  writeGapMs: number;
}

/** Runs `event` (which returns the new primary) under a write load, and measures what a user would. */
async function underLoad(cluster: TestCluster, event: () => Promise<TestPod>): Promise<LoadOutcome> {
  const old = await cluster.currentPrimary();
  const [{ serverId: oldServerId }] = await old.rootQuery('SELECT @@server_id AS serverId');
  const sampler = new WritableSampler(cluster.pods);
  const load = new WriteLoad(writeTarget(cluster), 4);
  let eventAt: number;
  let primary: TestPod;
  let firstNew: number;
  try {
    await waitFor('writes acknowledged before the event', async () => load.acked.length > 50);
    eventAt = Date.now();
    primary = await event();
    firstNew = await waitFor('a write acknowledged by the new primary', async () => load.firstAckElsewhere(eventAt, Number(oldServerId)) ?? undefined, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    await load.stop();
    await sampler.stop();
  }
  const lastOld = load.lastAckBy(Number(oldServerId)) ?? eventAt;
  return { load, primary, sampler, recoveryMs: firstNew - eventAt, writeGapMs: firstNew - lastOld };
}

function report(flavor: Flavor, what: string, outcome: LoadOutcome): void {
  console.log(
    `# ${flavor}: ${what}: first write on the new primary ${outcome.recoveryMs} ms after the event; write gap ${outcome.writeGapMs} ms; ${outcome.load.acked.length} writes acknowledged (${outcome.load.failures} failed attempts, not acknowledged); ${outcome.sampler.samples} read-only samples, ${outcome.sampler.violations.length} with two writable nodes`,
  );
}

export function failoverSuite(flavor: Flavor): void {
  describe(`${flavor}: failover, fencing and switchover with etcd and HAProxy`, () => {
    let cluster: TestCluster;
    let proxy: CuttableProxy;

    before(async () => {
      proxy = new CuttableProxy(ETCD_PROXY, { host: `${PREFIX}200`, port: 2379 });
      cluster = await TestCluster.start(flavor, {
        addressPrefix: PREFIX,
        haproxy: true,
        // Failovers in quick succession are this suite's point; the window has its own test.
        env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0' },
        // mysql-ha-2 reaches etcd through a proxy the partition test cuts.
        podEnv: { 'mysql-ha-2': { MYSQL_HA_ETCD_ENDPOINTS: `http://${ETCD_PROXY}:2379` } },
      });
      await cluster.waitHealthy();
      await WriteLoad.prepare(writeTarget(cluster));
    });
    after(async () => {
      proxy?.cut();
      await cluster?.destroy();
    });

    // An old primary killed under load may hold a transaction that reached its binary log but
    // never a replica (semi-sync AFTER_SYNC: never acknowledged to the client). MariaDB drops
    // it at restart (crash recovery as a semi-sync replica truncates it); MySQL commits it, and
    // the agent then clones the new primary over it. Either way the node must rejoin by itself.
    /** 'rejoined', or the reason it stayed out (then it is rebuilt by hand so the suite can go on). */
    async function rejoinOrRebuild(old: TestPod): Promise<string> {
      const outcome = await waitFor(
        `${old.name} rejoined or refused as errant`,
        async () => {
          const status = await old.status().catch(() => undefined);
          if (status?.decision?.state === 'replica-errant') return status.decision.reason as string;
          return status?.healthy && status.role === 'replica' ? 'rejoined' : undefined;
        },
        90_000,
      );
      const count = (file: string, what: string) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line.includes(what)).length;
      const cloned = count(old.paths.agentLog, '"state":"replica-rebuilding"');
      const truncated = count(old.paths.mysqldLog, 'Successfully truncated binlog');
      console.log(
        `# ${flavor}: ${old.name} ${outcome === 'rejoined' ? 'rejoined by itself' : `stayed out: ${outcome}`}; so far its agent cloned the primary ${cloned}×, its crash recovery truncated the binlog ${truncated}×`,
      );
      if (outcome !== 'rejoined') await old.rebuild();
      await cluster.waitHealthy();
      return outcome;
    }

    /** A planned switchover to `to` (none when it already is the primary), then a healthy cluster. */
    async function switchTo(to: TestPod): Promise<void> {
      const from = await cluster.currentPrimary();
      if (from === to) return;
      const response = await fetch(`http://${from.spec.address}:8080/switchover`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cluster.sandbox.describe().switchoverToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ candidate: to.name }),
      });
      assert.equal(response.status, 200, await response.text());
      await waitFor(`${to.name} primary`, async () => (await cluster.currentPrimary(1000).catch(() => undefined)) === to);
      await cluster.waitHealthy();
    }

    let sigkill: { old: TestPod; primary: TestPod; rejoin: Promise<string> } | undefined;

    test("SIGKILL of the primary's mysqld under load: a new primary takes writes, no acknowledged write is lost, never two writable nodes", async () => {
      const old = await cluster.currentPrimary();
      const outcome = await underLoad(cluster, async () => {
        await old.stopMysqld('SIGKILL');
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'mysqld SIGKILL failover', outcome);
      assert.notEqual(primary, old);
      assert.deepEqual(await ackedMissingOn(cluster, primary, load.acked), [], 'acknowledged writes missing on the new primary');
      assert.deepEqual(sampler.violations, []);
      old.startMysqld();
      sigkill = { old, primary, rejoin: rejoinOrRebuild(old) };
      await sigkill.rejoin;
    });

    test('the old primary, restarted, rejoins as a replica by itself', async () => {
      assert.ok(sigkill, 'the SIGKILL test ran');
      assert.equal(await sigkill.rejoin, 'rejoined');
    });

    test('after the failover every node follows the new primary, with no errant GTIDs anywhere', async () => {
      assert.ok(sigkill, 'the SIGKILL test ran');
      assert.equal((await sigkill.old.status()).replication.source, sigkill.primary.name);
      await assertNoErrantGtids(cluster, sigkill.primary);
    });

    let podKill: Promise<string> | undefined;

    test('the whole primary pod killed (mysqld and agent): failover after the lease TTL, no acknowledged write lost', async () => {
      const old = await cluster.currentPrimary();
      const outcome = await underLoad(cluster, async () => {
        await Promise.all([old.stopAgent('SIGKILL'), old.stopMysqld('SIGKILL')]);
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'pod kill failover', outcome);
      assert.deepEqual(await ackedMissingOn(cluster, primary, load.acked), []);
      assert.deepEqual(sampler.violations, []);
      cluster.sandbox.startPod(old);
      podKill = rejoinOrRebuild(old);
      await podKill;
      await assertNoErrantGtids(cluster, primary);
    });

    test('the killed pod, restarted, rejoins as a replica by itself', async () => {
      assert.equal(await podKill, 'rejoined');
    });

    test('a returning primary with a transaction no replica has: MySQL clones the primary over it, MariaDB keeps it out and names the fix', async () => {
      // What a primary that crashed while a commit waited for its acknowledgement leaves
      // behind, made on purpose: no replication configured, one transaction of its own.
      const primary = await cluster.currentPrimary();
      const old = cluster.pods.find((pod) => pod !== primary)!;
      await old.stopAgent('SIGTERM');
      const root = await old.root();
      try {
        await root.query('STOP REPLICA');
        await root.query('RESET REPLICA ALL');
        await root.query(flavor === 'mysql' ? 'SET GLOBAL super_read_only = OFF' : 'SET GLOBAL read_only = OFF');
        await root.query('INSERT INTO app.acked_writes (id, writer) VALUES (-1, -1)');
        await root.query(flavor === 'mysql' ? 'SET GLOBAL super_read_only = ON' : 'SET GLOBAL read_only = ON');
      } finally {
        await root.end();
      }
      old.startAgent();
      if (flavor === 'mysql') {
        assert.equal(await rejoinOrRebuild(old), 'rejoined');
        assert.match(readFileSync(old.paths.agentLog, 'utf8'), /"state":"replica-rebuilding".*cloning/);
        assert.deepEqual(await old.rootQuery('SELECT id FROM app.acked_writes WHERE id = -1'), [], 'the never-acknowledged row is gone');
      } else {
        const status = await waitFor(`${old.name} refused as errant`, async () => {
          const answer = await old.status().catch(() => undefined);
          return answer?.decision?.state === 'replica-errant' ? answer : undefined;
        });
        assert.match(
          status.decision.reason,
          /errant GTIDs \d+-\d+-\d+\) \(written while it was primary; automatic rebuild is off or this server cannot clone\); rebuild this replica/,
        );
        assert.equal((await old.agent('/health')).status, 503);
        await old.rebuild();
        await cluster.waitHealthy();
      }
      await assertNoErrantGtids(cluster, primary);
    });

    test('planned switchover under load: no acknowledged write lost, the old primary follows', async () => {
      const old = await cluster.currentPrimary();
      const token = cluster.sandbox.describe().switchoverToken;
      let answer: any;
      const outcome = await underLoad(cluster, async () => {
        const response = await fetch(`http://${old.spec.address}:8080/switchover`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{}',
        });
        answer = await response.json();
        assert.equal(response.status, 200, JSON.stringify(answer));
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'planned switchover', outcome);
      assert.equal(primary.name, answer.to);
      assert.deepEqual(await ackedMissingOn(cluster, primary, load.acked), []);
      assert.deepEqual(sampler.violations, []);
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication.source, primary.name);
      await assertNoErrantGtids(cluster, primary);
    });

    test('a primary cut off from etcd fences itself before its lease expires; never two writable nodes', async () => {
      // Make mysql-ha-2 (behind the proxy) the primary first.
      const isolated = cluster.pods.find((pod) => pod.name === 'mysql-ha-2')!;
      await switchTo(isolated);
      const outcome = await underLoad(cluster, async () => {
        proxy.cut();
        return waitNewPrimary(cluster, isolated);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'partition from etcd', outcome);
      assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
      const [{ readOnly }] = await isolated.rootQuery('SELECT @@read_only AS readOnly');
      assert.equal(Number(readOnly), 1, 'the isolated old primary must be read-only');
      assert.deepEqual(await ackedMissingOn(cluster, primary, load.acked), []);
    });

    test('five failovers in a row end with a healthy cluster', async () => {
      // The partitioned pod rejoins through etcd directly from now on.
      const isolated = cluster.pods.find((pod) => pod.name === 'mysql-ha-2')!;
      await isolated.stopAgent('SIGTERM');
      isolated.spec.env.MYSQL_HA_ETCD_ENDPOINTS = cluster.sandbox.etcdEndpoint;
      isolated.startAgent();
      await cluster.waitHealthy();
      for (let round = 1; round <= 5; round++) {
        const old = await cluster.currentPrimary();
        await old.stopMysqld('SIGKILL');
        const primary = await waitNewPrimary(cluster, old);
        old.startMysqld();
        await cluster.waitHealthy();
        await assertNoErrantGtids(cluster, primary);
      }
      const statuses = await Promise.all(cluster.pods.map((pod) => pod.status()));
      assert.equal(statuses.filter((status) => status.role === 'primary').length, 1);
      assert.ok(statuses.every((status) => status.healthy));
    });

    test('paused: a dead primary is not replaced; resumed: it is', async () => {
      const token = cluster.sandbox.describe().switchoverToken;
      const control = (pod: TestPod, path: string) =>
        fetch(`http://${pod.spec.address}:8080${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      for (const pod of cluster.pods) assert.equal((await control(pod, '/pause')).status, 200);
      const old = await cluster.currentPrimary();
      await old.stopMysqld('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 8000));
      for (const pod of cluster.pods.filter((candidate) => candidate !== old)) {
        assert.equal((await pod.agent('/primary')).status, 503, `${pod.name} became primary while paused`);
      }
      assert.equal((await old.status()).lease.holder, old.name, 'the paused primary keeps its lease');
      for (const pod of cluster.pods) await control(pod, '/resume');
      await waitNewPrimary(cluster, old);
      old.startMysqld();
      await cluster.waitHealthy();
    });

    test('lossless: with no replica to acknowledge it, a commit waits instead of returning, and returns once one is back', async () => {
      const primary = await cluster.currentPrimary();
      const replicas = cluster.pods.filter((pod) => pod !== primary);
      await Promise.all(replicas.map((pod) => pod.stopMysqld('SIGKILL')));
      const { app } = cluster.sandbox.describe();
      const connection = await primary.app(app.password, app.database);
      try {
        const insert = connection.query('INSERT INTO acked_writes (id, writer) VALUES (-2, -2)');
        const outcome = await Promise.race([insert.then(() => 'returned'), new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting'))]);
        assert.equal(outcome, 'still waiting', 'a commit returned with no replica to acknowledge it');
        replicas.forEach((pod) => pod.startMysqld());
        await insert;
        await cluster.waitHealthy();
        for (const pod of replicas) {
          await waitFor(`the row on ${pod.name}`, async () => (await pod.rootQuery('SELECT id FROM app.acked_writes WHERE id = -2')).length === 1);
        }
      } finally {
        await connection.end();
      }
    });

    test('anti-flapping: no second automatic failover inside the window; the dead primary takes its own lease back', async () => {
      for (const pod of cluster.pods) {
        await pod.stopAgent('SIGTERM');
        pod.spec.env.MYSQL_HA_FAILOVER_WINDOW_MS = '120000';
        pod.startAgent();
      }
      await cluster.waitHealthy();
      const first = await cluster.currentPrimary();
      await first.stopMysqld('SIGKILL');
      const second = await waitNewPrimary(cluster, first);
      first.startMysqld();
      await cluster.waitHealthy();
      await second.stopMysqld('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 8000));
      for (const pod of cluster.pods.filter((candidate) => candidate !== second)) {
        assert.equal((await pod.agent('/primary')).status, 503, `${pod.name} became primary inside the window`);
        assert.match((await pod.status()).decision.reason, /no second automatic failover within 120\.0 s/);
      }
      second.startMysqld();
      await waitFor(`${second.name} primary again`, async () => (await second.agent('/primary')).status === 200);
      await cluster.waitHealthy();
    });

    // A rebuilt pod keeps its server_id: a replica skips events with its own server_id unless told
    // not to (MySQL: replicate_same_server_id in the staged cnf), and would silently miss them.
    test('a replica rebuilt from an empty data dir gets every transaction, those its pod wrote as primary included', async () => {
      const [writer, other] = cluster.pods.filter((pod) => pod.name !== 'mysql-ha-0');
      await switchTo(writer!);
      const load = new WriteLoad(writeTarget(cluster), 2);
      await waitFor('writes on it', async () => load.acked.length > 100);
      await load.stop();
      await switchTo(other!);
      await writer!.rebuild();
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const summary = 'SELECT COUNT(*) AS total, SUM(id) AS ids FROM app.acked_writes';
      const [expected] = await primary.rootQuery(summary);
      await waitFor(
        `${writer!.name} holding every row`,
        async () => {
          const [actual] = await writer!.rootQuery(summary);
          return String(actual.total) === String(expected.total) && String(actual.ids) === String(expected.ids);
        },
        30_000,
      );
    });

    // Last: on MariaDB it leaves a replica that cannot catch up.
    test('a new empty replica joins although the primary purged its old binary logs: MySQL clones the primary, MariaDB says why it cannot', async () => {
      const primary = await cluster.currentPrimary();
      await primary.rootQuery('FLUSH BINARY LOGS');
      const [{ File: current }] = await primary.rootQuery(flavor === 'mysql' ? 'SHOW BINARY LOG STATUS' : 'SHOW BINLOG STATUS');
      // Every file before the one just opened: all the history there is.
      await primary.rootQuery(`PURGE BINARY LOGS TO '${current}'`);
      const [{ total }] = await primary.rootQuery('SELECT COUNT(*) AS total FROM app.acked_writes');
      const fresh = cluster.pods.find((pod) => pod !== primary)!;
      await fresh.rebuild();
      if (flavor === 'mysql') {
        await cluster.waitHealthy();
        assert.match(
          readFileSync(fresh.paths.agentLog, 'utf8'),
          /"state":"replica-rebuilding".*no longer has binary logs holding transactions this node lacks/,
        );
        const [{ copied }] = await fresh.rootQuery('SELECT COUNT(*) AS copied FROM app.acked_writes');
        assert.equal(Number(copied), Number(total));
        await assertNoErrantGtids(cluster, primary);
      } else {
        const status = await waitFor(`${fresh.name} reporting why it cannot catch up`, async () => {
          const answer = await fresh.status().catch(() => undefined);
          return /purged|1236/.test(answer?.replication?.lastError ?? '') ? answer : undefined;
        });
        assert.equal(status.healthy, false);
        assert.equal((await fresh.agent('/health')).status, 503);
      }
    });
  });
}
