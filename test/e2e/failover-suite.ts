// Failover, fencing and switchover on real servers, real etcd and real HAProxy.
// The tests of a describe share one cluster, started in `before`. Each test starts from a
// healthy cluster, sets up what it needs (a proxy, agent settings) and puts back what it
// changed, so it can run alone (--test-name-pattern) or in another order (the last one excepted).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import type { LeaseHistoryEntry } from '../../agent/coordination/lease.ts';
import type { AgentStatus } from '../../agent/http/status.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { type PodLogMarks, queryRows, type Row, TestCluster, type TestPod, waitFor } from '../support/cluster.ts';
import {
  ackedMissingOn,
  assertNoErrantGtids,
  largestWriteGapMs,
  lastLeaseChange,
  median,
  report,
  underLoad,
  waitNewPrimary,
  writeTarget,
} from '../support/failover-checks.ts';
import { haproxyBinary } from '../support/tools.ts';
import { WritableSampler, WriteLoad } from '../support/write-load.ts';

const run = promisify(execFile);
const PREFIX = '127.0.12.';
const ETCD_PROXY = `${PREFIX}201`;
// The asynchronous-mode cluster's own addresses (the benchmark uses 127.0.13.).
const ASYNC_PREFIX = '127.0.14.';
const FIVE_PODS_PREFIX = '127.0.19.';
// The agents' defaults (agent/config.ts), set explicitly: the paused test waits past them.
const LOOP_INTERVAL_MS = 500;
const MYSQLD_DOWN_GRACE_MS = 1000;

/** A TCP proxy in front of etcd for one agent, which a test can cut. */
class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly listening: Promise<void>;
  #cut = false;

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
    this.listening = new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(2379, listenHost, () => resolve());
    });
  }

  cut(): void {
    if (this.#cut) return;
    this.#cut = true;
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}

interface SwitchoverAnswer {
  ok: boolean;
  from?: string;
  to?: string;
  reason?: string;
}

/** `mysql-ha-agent history --json` on the sandbox: the lease store's changes of holder. */
async function history(cluster: TestCluster): Promise<LeaseHistoryEntry[]> {
  // The CLI finds the agents and their token in cluster.json, as after `sandbox up`.
  cluster.sandbox.save();
  const { stdout } = await run(process.execPath, ['agent/cli.ts', 'history', '--dir', cluster.dir, '--json']);
  return JSON.parse(stdout) as LeaseHistoryEntry[];
}

/** The time of the observation a /status document is based on (epoch ms), or 0 before the first. */
function observedAt(status: AgentStatus): number {
  return status.observedAt === null ? 0 : Date.parse(status.observedAt);
}

/** `pod`'s /status once it is based on an observation made after `at` (epoch ms). */
async function statusAfter(pod: TestPod, at: number, what: string): Promise<AgentStatus> {
  return waitFor(`${pod.name}: ${what}`, async () => {
    const status = await pod.statusOrUndefined();
    return status && observedAt(status) > at ? status : undefined;
  });
}

/** Sessions the server says are waiting for a replica to acknowledge their commit (semi-sync, either flavour's name). */
async function sessionsWaitingForAck(pod: TestPod): Promise<number> {
  const rows = await pod.adminQuery<{ Variable_name: string; Value: string }>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%_wait_sessions'");
  assert.ok(rows.length > 0, `${pod.name} reports no semi-sync wait sessions variable`);
  return Math.max(...rows.map((row) => Number(row.Value)));
}

const LIVENESS_LIMIT_MS = 1000;
/** The agents' default lease TTL (agent/config.ts), which this suite does not change. */
const LEASE_TTL_MS = 5000;
const CLONE_BANDWIDTH_MIB_PER_SECOND = 20;

/** Polls a pod's /liveness and /status every 100 ms: every failed liveness answer, and the longest clone seen running. */
class LivenessWatch {
  readonly failures: string[] = [];
  answers = 0;
  longestRebuildMs = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(pod: TestPod) {
    this.#timer = setInterval(async () => {
      const [liveness, status] = await Promise.all([pod.agent('/liveness').catch(() => null), pod.statusOrUndefined()]);
      if (liveness !== null) {
        this.answers++;
        if (liveness.status !== 200) this.failures.push(`${liveness.status}: ${JSON.stringify(liveness.body)}`);
      }
      if (status?.runningAction?.kind === 'rebuild') this.longestRebuildMs = Math.max(this.longestRebuildMs, status.runningAction.runningForMs);
    }, 100);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Restarts each pod's agent, one after the other, with these settings changed. A stopping
 * primary's agent hands its lease over, so each waits for a serving primary before the next,
 * as a rolling update waits for each pod to be ready.
 */
async function restartAgents(cluster: TestCluster, pods: TestPod[], env: Record<string, string>): Promise<void> {
  for (const pod of pods) {
    await pod.stopAgent('SIGTERM');
    Object.assign(pod.spec.env, env);
    pod.startAgent();
    await cluster.currentPrimary(60_000);
  }
}

export function failoverSuite(flavor: Flavor): void {
  describe(`${flavor}: failover, fencing and switchover with etcd and HAProxy`, () => {
    let cluster: TestCluster;

    before(async () => {
      cluster = await TestCluster.start(flavor, {
        addressPrefix: PREFIX,
        haproxy: true,
        env: {
          // Failovers in quick succession are this suite's point; the window has its own test.
          MYSQL_HA_FAILOVER_WINDOW_MS: '0',
          MYSQL_HA_LOOP_INTERVAL_MS: String(LOOP_INTERVAL_MS),
          MYSQL_HA_MYSQLD_DOWN_GRACE_MS: String(MYSQLD_DOWN_GRACE_MS),
          // The pod template revision, as the StatefulSet's controller-revision-hash label gives it (the rolling restart moves it on).
          POD_REVISION: 'rev-1',
        },
      });
      await cluster.waitHealthy();
      await WriteLoad.prepare(writeTarget(cluster));
    });
    after(async () => cluster?.destroy());

    // An old primary killed under load may hold a transaction that reached its binary log but
    // never a replica (semi-sync AFTER_SYNC: never acknowledged to the client). MariaDB drops
    // it at restart (crash recovery as a semi-sync replica truncates it); MySQL commits it, and
    // the agent then clones the new primary over it. Either way the node must rejoin by itself.
    /** 'rejoined', or the reason it stayed out (then it is rebuilt by hand so the suite can go on). */
    async function rejoinOrRebuild(old: TestPod, since: PodLogMarks): Promise<string> {
      const outcome = await waitFor(
        `${old.name} rejoined or refused as errant`,
        async () => {
          const status = await old.statusOrUndefined();
          if (status?.decision?.state === 'replica-errant') return status.decision.reason;
          return status?.healthy && status.role === 'replica' ? 'rejoined' : undefined;
        },
        90_000,
      );
      const cloned = since.agent.count('"state":"replica-rebuilding"');
      const truncated = since.mysqld.count('Successfully truncated binlog');
      const how = outcome === 'rejoined' ? 'rejoined by itself' : `stayed out: ${outcome}`;
      console.log(
        `# ${flavor}: ${old.name} ${how}; in this test its agent copied the primary ${cloned}×, its crash recovery truncated the binlog ${truncated}×`,
      );
      if (outcome !== 'rejoined') await old.rebuild();
      await cluster.waitHealthy();
      return outcome;
    }

    /** A planned switchover to `to` (none when it already is the primary), then a healthy cluster. */
    async function switchTo(to: TestPod): Promise<void> {
      const from = await cluster.currentPrimary();
      if (from === to) return;
      const answer = await from.control('/switchover', { candidate: to.name });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await waitFor(`${to.name} primary`, async () => (await cluster.currentPrimary(1000).catch(() => undefined)) === to);
      await cluster.waitHealthy();
    }

    test("SIGKILL of the primary's mysqld under load: no acknowledged write lost, never two writable nodes, the old primary rejoins by itself", async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const since = old.logMarks();
      const outcome = await underLoad(cluster, async () => {
        await old.stopMysqld('SIGKILL');
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'mysqld SIGKILL failover', outcome);
      assert.notEqual(primary, old);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), [], 'acknowledged writes missing on the new primary');
      assert.deepEqual(sampler.violations, []);
      old.startMysqld();
      const rejoined = await rejoinOrRebuild(old, since);
      // After the failover every node follows the new primary, with no errant GTIDs anywhere.
      assert.equal((await old.status()).replication?.source, primary.name);
      await assertNoErrantGtids(cluster, primary);
      assert.equal(rejoined, 'rejoined', `${old.name}, restarted, did not rejoin as a replica by itself`);
    });

    test('sandbox crash of the primary (a node lost): failover after the lease TTL, no acknowledged write lost, the pod rejoins by itself', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const since = old.logMarks();
      const outcome = await underLoad(cluster, async () => {
        await cluster.sandbox.crashPod(old);
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'pod kill failover', outcome);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      assert.deepEqual(sampler.violations, []);
      cluster.sandbox.startPod(old);
      const rejoined = await rejoinOrRebuild(old, since);
      assert.equal((await old.status()).replication?.source, primary.name);
      await assertNoErrantGtids(cluster, primary);
      assert.equal(rejoined, 'rejoined', `${old.name}, restarted, did not rejoin as a replica by itself`);
    });

    // Three rounds: each pod deleted once while primary.
    test('sandbox stop of the primary (pod deleted), 3 times under 4 writers: it hands over first; nothing lost, one writable, no clone', async () => {
      await cluster.waitHealthy();
      const gaps: number[] = [];
      for (let round = 1; round <= 3; round++) {
        const old = await cluster.currentPrimary();
        const since = old.logMarks();
        const outcome = await underLoad(cluster, async () => {
          await cluster.sandbox.stopPod(old);
          return waitNewPrimary(cluster, old);
        });
        report(flavor, `sandbox stop of the primary, round ${round}`, outcome);
        gaps.push(outcome.writeGapMs);
        const { load, primary, sampler } = outcome;
        assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
        assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
        assert.match(since.agent.text(), new RegExp(`pod terminating: handing the lease over to ${primary.name}`));
        assert.deepEqual(lastLeaseChange(await primary.status()), { holder: primary.name, how: 'hand-over' }, 'the lease moved by hand-over, not by expiry');
        cluster.sandbox.startPod(old);
        await cluster.waitHealthy();
        assert.equal((await old.status()).replication?.source, primary.name);
        assert.equal(since.agent.count('"state":"replica-rebuilding"'), 0, `${old.name} needed a clone to rejoin`);
        await assertNoErrantGtids(cluster, primary);
      }
      console.log(`# ${flavor}: sandbox stop of the primary: write gaps ${gaps.join(', ')} ms; median ${median(gaps)} ms, largest ${Math.max(...gaps)} ms`);
    });

    test('sandbox stop of a replica under 4 writers: no write fails, the primary keeps its lease', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replica = cluster.pods.find((pod) => pod !== primary)!;
      const load = new WriteLoad(writeTarget(cluster), 4);
      try {
        await waitFor('writes acknowledged before the stop', async () => load.acked.length > 50);
        await cluster.sandbox.stopPod(replica);
        const stoppedAt = load.acked.length;
        await waitFor('writes acknowledged after the stop', async () => load.acked.length > stoppedAt + 100);
      } finally {
        await load.stop();
      }
      console.log(
        `# ${flavor}: sandbox stop of a replica: ${load.acked.length} writes acknowledged, ${load.failures} failed; largest gap ${largestWriteGapMs(load)} ms`,
      );
      assert.equal(load.failures, 0, 'a write failed while a replica stopped');
      assert.equal(await cluster.currentPrimary(), primary);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      cluster.sandbox.startPod(replica);
      await cluster.waitHealthy();
      await waitFor(`${replica.name}, started again, has every acknowledged write`, async () => (await ackedMissingOn(replica, load.acked)).length === 0);
    });

    test('rolling restart from the highest ordinal, under 2 writers: one hand-over, to a replica already updated; nothing lost', async () => {
      await cluster.waitHealthy();
      // The primary is neither the first pod updated nor the last.
      const middle = cluster.pods.find((pod) => pod.name === 'mysql-ha-1')!;
      await switchTo(middle);
      const startedAt = Date.now();
      const since = middle.logMarks();
      const sampler = new WritableSampler(cluster.pods);
      // Each restarted pod must catch up before the next one goes (Ready, as the StatefulSet
      // controller waits for): with 4 writers flat out, a MySQL replica back from a restart on
      // this 2-core machine has been seen to apply no faster than new writes came (lag 27 s after 90 s).
      const load = new WriteLoad(writeTarget(cluster), 2);
      try {
        await waitFor('writes acknowledged before the rollout', async () => load.acked.length > 50);
        for (const pod of [...cluster.pods].sort((a, b) => b.name.localeCompare(a.name))) {
          await cluster.sandbox.stopPod(pod);
          Object.assign(pod.spec.env, { POD_REVISION: 'rev-2' });
          cluster.sandbox.startPod(pod);
          await cluster.waitHealthy(180_000);
        }
        const doneAt = load.acked.length;
        await waitFor('writes acknowledged after the rollout', async () => load.acked.length > doneAt + 20);
      } finally {
        await load.stop();
        await sampler.stop();
      }
      const primary = await cluster.currentPrimary();
      const changes = (await primary.status()).leaseChanges.filter((change) => change.how !== 'first-seen' && Date.parse(change.at) >= startedAt);
      console.log(
        `# ${flavor}: rolling restart under load: largest write gap ${largestWriteGapMs(load)} ms; ${load.acked.length} writes acknowledged ` +
          `(${load.failures} failed attempts); lease changes ${changes.map((change) => `${change.how} to ${change.holder}`).join(', ')}`,
      );
      assert.equal(primary.name, 'mysql-ha-2', 'the hand-over went to the pod already on the new revision');
      assert.match(since.agent.text(), /handing the lease over to mysql-ha-2 \(the best replica, already on the new pod revision\)/);
      assert.deepEqual(
        changes.map((change) => change.how),
        ['hand-over'],
      );
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
      await assertNoErrantGtids(cluster, primary);
    });

    test('a returning primary with a transaction no replica has: its agent copies the primary over it (MySQL clones, MariaDB streams a backup)', async () => {
      await cluster.waitHealthy();
      // What a primary that crashed while a commit waited for its acknowledgement leaves
      // behind, made on purpose: no replication configured, one transaction of its own.
      const primary = await cluster.currentPrimary();
      const old = cluster.pods.find((pod) => pod !== primary)!;
      const since = old.logMarks();
      await old.stopAgent('SIGTERM');
      const root = await old.admin();
      try {
        await root.query('STOP REPLICA');
        await root.query('RESET REPLICA ALL');
        await root.query(flavor === 'mysql' ? 'SET GLOBAL super_read_only = OFF' : 'SET GLOBAL read_only = OFF');
        await root.query('INSERT INTO app.acked_writes (id, writer) VALUES (-1, -1)');
        await root.query(flavor === 'mysql' ? 'SET GLOBAL super_read_only = ON' : 'SET GLOBAL read_only = ON');
        // The clone this makes MySQL run copies a small data set in under a second; throttled,
        // it takes as long as a large one would (the restart after it resets the setting).
        if (flavor === 'mysql') await root.query(`SET GLOBAL clone_max_data_bandwidth = ${CLONE_BANDWIDTH_MIB_PER_SECOND}`);
      } finally {
        await root.end();
      }
      // A liveness limit shorter than the clone: the kubelet must never see the agent as stuck meanwhile.
      Object.assign(old.spec.env, { MYSQL_HA_LIVENESS_TIMEOUT_MS: String(LIVENESS_LIMIT_MS) });
      old.startAgent();
      const liveness = new LivenessWatch(old);
      const rejoined = await rejoinOrRebuild(old, since).finally(() => liveness.stop());
      console.log(
        `# ${flavor}: the copy ran ${liveness.longestRebuildMs} ms; /liveness answered ${liveness.answers} times, ${liveness.failures.length} failed`,
      );
      assert.equal(rejoined, 'rejoined');
      // MySQL's clone is throttled above to outlast the liveness limit; MariaDB's copy cannot be.
      if (flavor === 'mysql') {
        assert.ok(liveness.longestRebuildMs > LIVENESS_LIMIT_MS, `the clone took ${liveness.longestRebuildMs} ms, not longer than the liveness limit`);
      }
      assert.deepEqual(liveness.failures, [], '/liveness failed while the copy ran');
      assert.match(since.agent.text(), /"state":"replica-rebuilding".*discarding them with a copy of/);
      assert.deepEqual(await old.adminQuery('SELECT id FROM app.acked_writes WHERE id = -1'), [], 'the never-acknowledged row is gone');
      delete old.spec.env.MYSQL_HA_LIVENESS_TIMEOUT_MS;
      await assertNoErrantGtids(cluster, primary);
    });

    test('planned switchover under load: no acknowledged write lost, the old primary follows', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      let answer: SwitchoverAnswer | undefined;
      const outcome = await underLoad(cluster, async () => {
        const response = await old.control('/switchover');
        answer = response.body as SwitchoverAnswer;
        assert.equal(response.status, 200, JSON.stringify(answer));
        return waitNewPrimary(cluster, old);
      });
      const { load, primary, sampler } = outcome;
      report(flavor, 'planned switchover', outcome);
      assert.equal(primary.name, answer?.to);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      assert.deepEqual(sampler.violations, []);
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication?.source, primary.name);
      await assertNoErrantGtids(cluster, primary);
    });

    test('HAProxy configured as for Patroni (option httpchk OPTIONS /primary, /replica) routes writes to the primary and follows a switchover', async () => {
      await cluster.waitHealthy();
      const address = `${PREFIX}150`;
      const server = (pod: TestPod) => `    server ${pod.name} ${pod.spec.address}:3306 maxconn 100 check port 8080`;
      // Patroni's reference haproxy.cfg, its timings included; check-ssl as for a Patroni REST API with TLS.
      const config = [
        'global',
        '    maxconn 100',
        'defaults',
        '    mode tcp',
        '    retries 2',
        '    timeout client 30m',
        '    timeout connect 4s',
        '    timeout server 30m',
        '    timeout check 5s',
        'listen primary',
        `    bind ${address}:5000`,
        '    option httpchk OPTIONS /primary',
        '    http-check expect status 200',
        `    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions check-ssl verify required ca-file ${cluster.pods[0]!.caFile}`,
        ...cluster.pods.map(server),
        'listen replicas',
        `    bind ${address}:5001`,
        '    balance roundrobin',
        '    option httpchk OPTIONS /replica',
        '    http-check expect status 200',
        `    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions check-ssl verify required ca-file ${cluster.pods[0]!.caFile}`,
        ...cluster.pods.map(server),
        '',
      ].join('\n');
      const file = join(cluster.dir, 'haproxy-patroni-style.cfg');
      writeFileSync(file, config);
      const haproxy = spawn(haproxyBinary(), ['-db', '-f', file], { stdio: 'ignore' });
      const serverIdVia = async (port: number) => {
        const connection = await createConnection({ host: address, port, user: 'app', password: cluster.secrets.app, database: 'app' });
        try {
          return Number((await queryRows<{ id: number }>(connection, 'SELECT @@server_id AS id'))[0]?.id);
        } finally {
          await connection.end();
        }
      };
      const serverIdOf = async (pod: TestPod) => Number((await pod.adminRow('SELECT @@server_id AS id')).id);
      try {
        const old = await cluster.currentPrimary();
        await waitFor('writes routed to the primary', async () => (await serverIdVia(5000).catch(() => 0)) === (await serverIdOf(old)), 30_000);
        const replicaIds = await Promise.all(cluster.pods.filter((pod) => pod !== old).map(serverIdOf));
        await waitFor('reads routed to a replica', async () => replicaIds.includes(await serverIdVia(5001).catch(() => 0)), 30_000);
        const answer = await old.control('/switchover');
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const primary = await waitNewPrimary(cluster, old);
        await waitFor(`writes routed to ${primary.name}`, async () => (await serverIdVia(5000).catch(() => 0)) === (await serverIdOf(primary)), 30_000);
        assert.notEqual(await serverIdVia(5001), await serverIdOf(primary), 'the replicas port never sends to the primary');
      } finally {
        haproxy.kill('SIGTERM');
        await once(haproxy, 'exit');
      }
      await cluster.waitHealthy();
    });

    test('a primary cut off from etcd fences itself before its lease expires; never two writable nodes', async () => {
      await cluster.waitHealthy();
      // mysql-ha-2 reaches etcd through a proxy this test cuts, and is made the primary first.
      const isolated = cluster.pods.find((pod) => pod.name === 'mysql-ha-2')!;
      const proxy = new CuttableProxy(ETCD_PROXY, { host: cluster.sandbox.etcdAddress, port: 2379 });
      try {
        await proxy.listening;
        await restartAgents(cluster, [isolated], { MYSQL_HA_ETCD_ENDPOINTS: `http://${ETCD_PROXY}:2379` });
        await cluster.waitHealthy();
        await switchTo(isolated);
        const outcome = await underLoad(cluster, async () => {
          proxy.cut();
          return waitNewPrimary(cluster, isolated);
        });
        const { load, primary, sampler } = outcome;
        report(flavor, 'partition from etcd', outcome);
        assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
        const { readOnly } = await isolated.adminRow('SELECT @@read_only AS readOnly');
        assert.equal(Number(readOnly), 1, 'the isolated old primary must be read-only');
        assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      } finally {
        // The partition healed: the pod reaches etcd directly again (the next test starts from a healthy cluster).
        proxy.cut();
        await restartAgents(cluster, [isolated], { MYSQL_HA_ETCD_ENDPOINTS: cluster.sandbox.etcdEndpoint });
      }
    });

    test('the lease store down (etcd stopped), the agents still see each other: the primary stays writable 3 × TTL (failsafe), no failover', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const primaryServerId = Number((await primary.adminRow('SELECT @@server_id AS serverId')).serverId);
      const sampler = new WritableSampler(cluster.pods);
      const load = new WriteLoad(writeTarget(cluster), 4);
      let stoppedAt = 0;
      try {
        await waitFor('writes acknowledged before etcd stops', async () => load.acked.length > 50);
        await cluster.sandbox.stopEtcd();
        stoppedAt = Date.now();
        await waitFor(`${primary.name} serving on the failsafe`, async () => /\(failsafe\)/.test((await primary.statusOrUndefined())?.decision?.reason ?? ''));
        await sleep(3 * LEASE_TTL_MS);
        assert.equal((await primary.agent('/primary')).status, 200, `${primary.name} stopped serving while etcd was down`);
      } finally {
        await load.stop();
        await sampler.stop();
        await cluster.sandbox.startEtcd();
      }
      const during = load.acks.filter((ack) => ack.at > stoppedAt);
      const late = during.filter((ack) => ack.at > stoppedAt + 3 * LEASE_TTL_MS);
      console.log(
        `# ${flavor}: etcd down ${Math.round((Date.now() - stoppedAt) / 1000)} s: ${during.length} writes acknowledged meanwhile, ` +
          `${late.length} after 3 × TTL; largest write gap ${largestWriteGapMs(load)} ms`,
      );
      assert.ok(late.length > 0, 'no write was acknowledged 3 × TTL after etcd stopped');
      assert.ok(
        during.every((ack) => ack.serverId === primaryServerId),
        'a write was acknowledged by another node: a failover happened',
      );
      assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
      await cluster.waitHealthy();
      assert.equal(await cluster.currentPrimary(), primary);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
    });

    test("the lease store down and the primary's peers unreachable: no failsafe, it fences before its lease could expire", async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replicas = cluster.pods.filter((pod) => pod !== primary);
      let fencedAfterMs = 0;
      const since = primary.logMarks();
      try {
        await Promise.all(replicas.map((pod) => pod.stopAgent('SIGKILL')));
        await cluster.sandbox.stopEtcd();
        const stoppedAt = Date.now();
        await waitFor(`${primary.name} read-only`, async () => Number((await primary.adminRow('SELECT @@read_only AS readOnly')).readOnly) === 1);
        fencedAfterMs = Date.now() - stoppedAt;
        assert.match(since.agent.text(), /still primary until the lease runs out \(no failsafe: mysql-ha-\d: agent unreachable/);
        assert.match(since.agent.text(), /"state":"fencing".*cannot renew the lease/);
      } finally {
        await cluster.sandbox.startEtcd();
        for (const pod of replicas) cluster.sandbox.startPod(pod);
      }
      console.log(`# ${flavor}: etcd down and the peers unreachable: ${primary.name} read-only ${fencedAfterMs} ms after (lease TTL ${LEASE_TTL_MS} ms)`);
      await cluster.waitHealthy();
    });

    test('five failovers in a row end with a healthy cluster, and the lease history (mysql-ha-agent history) lists each', async () => {
      await cluster.waitHealthy();
      const before = await history(cluster);
      const changes: Array<{ from: string; to: string }> = [];
      for (let round = 1; round <= 5; round++) {
        const old = await cluster.currentPrimary();
        await old.stopMysqld('SIGKILL');
        const primary = await waitNewPrimary(cluster, old);
        changes.push({ from: old.name, to: primary.name });
        old.startMysqld();
        await cluster.waitHealthy();
        await assertNoErrantGtids(cluster, primary);
      }
      const statuses = await Promise.all(cluster.pods.map((pod) => pod.status()));
      assert.equal(statuses.filter((status) => status.role === 'primary').length, 1);
      assert.ok(statuses.every((status) => status.healthy));
      // Each failover: the old primary let the lease go (mysqld down), the new one took it by an election.
      const added = (await history(cluster)).slice(before.length);
      assert.deepEqual(
        added.map((entry) => ({ to: entry.holder, how: entry.how })),
        changes.map((change) => ({ to: change.to, how: 'election' })),
      );
      for (const entry of added) assert.match(entry.reason, new RegExp(`the lease is free .*${entry.holder} is the most advanced candidate`));
      assert.deepEqual(
        added.map((entry) => entry.term),
        added.map((_, index) => before.at(-1)!.term + index + 1),
        'one term per change, none skipped',
      );
    });

    test('tags: the replica tagged nofailover is never promoted, the other one is; noloadbalance keeps a healthy replica out of reads', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const [tagged, other] = cluster.pods.filter((pod) => pod !== old) as [TestPod, TestPod];
      const since = old.logMarks();
      await restartAgents(cluster, [tagged], { MYSQL_HA_NOFAILOVER: 'true', MYSQL_HA_NOLOADBALANCE: 'true' });
      try {
        // Every agent healthy; HAProxy cannot settle with every pod readable, which is the point.
        await cluster.sandbox.waitHealthy(60_000);
        assert.deepEqual((await tagged.status()).tags, { nofailover: true, failoverPriority: 1, noloadbalance: true });
        await waitFor(`HAProxy sending ${tagged.name} no reads`, async () => (await cluster.haproxyState('mysql-readable', tagged)) === 'DOWN', 30_000);
        assert.equal((await tagged.agent('/health')).status, 200, 'healthy all the same');
        assert.equal(await cluster.haproxyState('mysql-readable', other), 'UP');
        const outcome = await underLoad(cluster, async () => {
          await old.stopMysqld('SIGKILL');
          return waitNewPrimary(cluster, old);
        });
        report(flavor, 'mysqld SIGKILL failover with a replica tagged nofailover', outcome);
        assert.equal(outcome.primary, other, `${tagged.name} (nofailover) was promoted`);
        assert.deepEqual(await ackedMissingOn(other, outcome.load.acked), [], 'acknowledged writes missing on the new primary');
        assert.deepEqual(outcome.sampler.violations, []);
      } finally {
        await restartAgents(cluster, [tagged], { MYSQL_HA_NOFAILOVER: '', MYSQL_HA_NOLOADBALANCE: '' });
      }
      // Once every pod may take reads again: rejoining waits for HAProxy to route to all of them.
      old.startMysqld();
      await rejoinOrRebuild(old, since);
    });

    test('tags: a nofailover replica with writes no candidate has stops the failover, says why; its tag cleared, it takes over', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const [tagged, behind] = cluster.pods.filter((pod) => pod !== old) as [TestPod, TestPod];
      const since = old.logMarks();
      await restartAgents(cluster, [tagged], { MYSQL_HA_NOFAILOVER: 'true' });
      const app = await old.app(cluster.secrets.app, 'app');
      try {
        await app.query('CREATE TABLE IF NOT EXISTS tagged_ahead (id INT PRIMARY KEY)');
        await waitFor(`${behind.name} has the table`, async () => (await behind.adminQuery("SHOW TABLES FROM app LIKE 'tagged_ahead'")).length === 1);
        // Only the tagged replica receives (and acknowledges) what follows: the other's agent is
        // frozen so that it does not start its IO thread again.
        process.kill(behind.agentPid!, 'SIGSTOP');
        await behind.adminQuery('STOP REPLICA IO_THREAD');
        for (const id of [1, 2, 3]) await app.query('INSERT INTO tagged_ahead VALUES (?)', [id]);
      } finally {
        await app.end();
      }
      await old.stopMysqld('SIGKILL');
      process.kill(behind.agentPid!, 'SIGCONT');
      const stopped = await waitFor(`${behind.name} refusing to take the lease past ${tagged.name}`, async () => {
        const status = await behind.statusOrUndefined();
        return status?.decision?.state === 'waiting-for-election' && /tagged nofailover/.test(status.decision.reason) ? status : undefined;
      });
      console.log(`# ${flavor}: ${behind.name}: ${stopped.decision?.reason}`);
      assert.match(
        stopped.decision?.reason ?? '',
        new RegExp(`${tagged.name}, which has more transactions than any candidate, cannot take it \\(it is tagged nofailover\\): no failover`),
      );
      const later = await statusAfter(behind, observedAt(stopped) + 2 * LOOP_INTERVAL_MS, 'a later decision');
      assert.notEqual(later.role, 'primary', `${behind.name} took the lease past the more advanced ${tagged.name}`);
      assert.equal((await tagged.agent('/primary')).status, 503, `${tagged.name} took the lease although tagged nofailover`);

      await restartAgents(cluster, [tagged], { MYSQL_HA_NOFAILOVER: '' });
      assert.equal(await cluster.currentPrimary(), tagged, 'the most advanced node takes over once its tag is cleared');
      assert.deepEqual(
        (await tagged.adminQuery('SELECT id FROM app.tagged_ahead ORDER BY id')).map((row) => Number(row.id)),
        [1, 2, 3],
      );
      await waitFor(`${behind.name} has every row`, async () => (await behind.adminQuery('SELECT id FROM app.tagged_ahead')).length === 3);
      old.startMysqld();
      await rejoinOrRebuild(old, since);
      await assertNoErrantGtids(cluster, tagged);
    });

    test('tags: among equally advanced replicas the higher failover priority wins, the lower ordinal notwithstanding', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const [first, second] = cluster.pods.filter((pod) => pod !== old) as [TestPod, TestPod];
      await restartAgents(cluster, [second], { MYSQL_HA_FAILOVER_PRIORITY: '5' });
      try {
        await cluster.waitHealthy();
        // Nothing written meanwhile: both replicas have every transaction.
        const gtids = async (pod: TestPod) => (await pod.status()).gtidExecuted;
        await waitFor('both replicas equally advanced', async () => (await gtids(first)) === (await gtids(second)));
        const since = old.logMarks();
        await old.stopMysqld('SIGKILL');
        const primary = await waitNewPrimary(cluster, old);
        assert.equal(primary, second, `${primary.name} won over ${second.name} (failover priority 5)`);
        old.startMysqld();
        await rejoinOrRebuild(old, since);
      } finally {
        await restartAgents(cluster, [second], { MYSQL_HA_FAILOVER_PRIORITY: '' });
      }
      await cluster.waitHealthy();
    });

    test('paused, the primary pod lost: nobody takes over until mysql-ha-agent failover --to names a replica; nothing acknowledged lost', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const replicas = cluster.pods.filter((pod) => pod !== old);
      let target: TestPod | undefined;
      try {
        for (const pod of cluster.pods) assert.equal((await pod.control('/pause')).status, 200);
        const outcome = await underLoad(cluster, async () => {
          await cluster.sandbox.crashPod(old);
          // Its lease runs out; paused, no replica takes it.
          for (const pod of replicas) {
            const waiting = await waitFor(`${pod.name} seeing the lease free while paused`, async () => {
              const status = await pod.statusOrUndefined();
              return status?.lease?.state === 'free' ? status : undefined;
            });
            assert.match(waiting.decision?.reason ?? '', /automatic failover is paused/);
          }
          cluster.sandbox.save();
          // As an operator would: the first replica, unless its agent says the other has writes it lacks.
          for (const candidate of replicas) {
            const attempt = await run(process.execPath, ['agent/cli.ts', 'failover', '--to', candidate.name, '--dir', cluster.dir]).then(
              ({ stdout }) => ({ ok: true, output: stdout }),
              (error: { stderr: string }) => ({ ok: false, output: error.stderr }),
            );
            if (attempt.ok) {
              assert.match(attempt.output, new RegExp(`failover: ${candidate.name} is the primary`));
              target = candidate;
              break;
            }
            console.log(`# ${flavor}: failover --to ${candidate.name} refused: ${attempt.output.split('\n')[0]}`);
            assert.match(attempt.output, /transaction\(s\) this node lacks.*they would be lost/);
          }
          return waitNewPrimary(cluster, old);
        });
        report(flavor, 'failover --to while paused, the primary pod lost', outcome);
        assert.equal(outcome.primary, target);
        assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), [], 'acknowledged writes missing on the new primary');
        assert.deepEqual(outcome.sampler.violations, []);
        const last = (await history(cluster)).at(-1);
        assert.match(last?.reason ?? '', new RegExp(`^manual failover to ${target!.name} requested`));
      } finally {
        for (const pod of replicas) await pod.control('/resume');
      }
      cluster.sandbox.startPod(old);
      await cluster.waitHealthy();
      await assertNoErrantGtids(cluster, target!);
    });

    test('paused: a dead primary is not replaced; resumed: it is', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const others = cluster.pods.filter((candidate) => candidate !== old);
      const term = (await old.status()).lease?.term;
      try {
        for (const pod of cluster.pods) assert.equal((await pod.control('/pause')).status, 200);
        await old.stopMysqld('SIGKILL');
        // Not paused, the old primary's agent gives its lease up once its mysqld has been down for
        // the grace period (it notices within a loop tick), and a replica takes it. Evidence that
        // this did not happen, rather than a sleep: the old primary's own decision made well after
        // that point, still holding the lease, and every other agent's view taken after that one.
        const releaseDue = Date.now() + LOOP_INTERVAL_MS + MYSQLD_DOWN_GRACE_MS + 1000;
        const kept = await statusAfter(old, releaseDue, 'a decision made after its lease would have been released');
        assert.equal(kept.mysqld.up, false);
        assert.notEqual(kept.decision?.state, 'primary-releasing', kept.decision?.reason);
        assert.equal(kept.lease?.holder, old.name, `the paused primary gave its lease up: ${kept.decision?.reason}`);
        assert.equal(kept.lease?.term, term, 'the lease changed hands while paused');
        for (const pod of others) {
          const view = await statusAfter(pod, observedAt(kept), `a view after ${old.name}'s decision`);
          assert.equal(view.lease?.holder, old.name, `${pod.name} sees another lease holder while paused`);
          assert.equal(view.lease?.term, term);
          assert.notEqual(view.role, 'primary', `${pod.name} became primary while paused`);
          assert.equal((await pod.agent('/primary')).status, 503, `${pod.name} answers /primary while paused`);
        }
      } finally {
        for (const pod of cluster.pods) await pod.control('/resume');
      }
      await waitNewPrimary(cluster, old);
      old.startMysqld();
      await cluster.waitHealthy();
    });

    test('lossless: with no replica to acknowledge it, a commit waits instead of returning, and returns once one is back', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replicas = cluster.pods.filter((pod) => pod !== primary);
      await Promise.all(replicas.map((pod) => pod.stopMysqld('SIGKILL')));
      const { app } = cluster.sandbox.describe();
      const connection = await primary.app(app.password, app.database);
      try {
        let returned = false;
        const insert = connection.query('INSERT INTO acked_writes (id, writer) VALUES (-2, -2)').then(() => {
          returned = true;
        });
        // The server itself shows the commit waiting for a replica's acknowledgement, invisible
        // to other sessions (AFTER_SYNC), and the client has had no answer.
        await waitFor('the commit waiting for a semi-sync acknowledgement', async () => (await sessionsWaitingForAck(primary)) >= 1);
        assert.equal(returned, false, 'a commit returned with no replica to acknowledge it');
        assert.deepEqual(await primary.adminQuery('SELECT id FROM app.acked_writes WHERE id = -2'), [], 'an unacknowledged commit is visible');
        for (const pod of replicas) pod.startMysqld();
        await insert;
        await cluster.waitHealthy();
        for (const pod of replicas) {
          await waitFor(`the row on ${pod.name}`, async () => (await pod.adminQuery('SELECT id FROM app.acked_writes WHERE id = -2')).length === 1);
        }
      } finally {
        await connection.end();
      }
    });

    test('anti-flapping: two quick failovers in a row happen at once, the third waits (and says why); the dead primary takes its own lease back', async () => {
      await cluster.waitHealthy();
      try {
        await restartAgents(cluster, cluster.pods, { MYSQL_HA_FAILOVER_WINDOW_MS: '120000' });
        await cluster.waitHealthy();
        let primary = await cluster.currentPrimary();
        for (let quick = 1; quick <= 2; quick++) {
          await primary.stopMysqld('SIGKILL');
          const next = await waitNewPrimary(cluster, primary);
          primary.startMysqld();
          await cluster.waitHealthy();
          primary = next;
        }
        await primary.stopMysqld('SIGKILL');
        // Each other agent sees the lease free and says why it does not take it.
        for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
          const status = await waitFor(`${pod.name} holding a third quick failover back`, async () => {
            const current = await pod.statusOrUndefined();
            return /quick failover number 3 in a row \(only 2 happen at once; anti-flapping window 120\.0 s\): holding it back/.test(
              current?.decision?.reason ?? '',
            )
              ? current
              : undefined;
          });
          assert.notEqual(status.role, 'primary');
          assert.equal((await pod.agent('/primary')).status, 503, `${pod.name} became primary although held back`);
        }
        primary.startMysqld();
        await waitFor(`${primary.name} primary again`, async () => (await primary.agent('/primary')).status === 200);
        await cluster.waitHealthy();
      } finally {
        for (const pod of cluster.pods) cluster.sandbox.startPod(pod);
        await restartAgents(cluster, cluster.pods, { MYSQL_HA_FAILOVER_WINDOW_MS: '0' });
      }
    });

    // A rebuilt pod keeps its server_id: a replica skips events with its own server_id unless told
    // not to (MySQL: replicate_same_server_id in the staged cnf), and would silently miss them.
    test('a replica rebuilt from an empty data dir gets every transaction, those its pod wrote as primary included', async () => {
      await cluster.waitHealthy();
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
      const expected = await primary.adminRow(summary);
      // It replays the primary's whole binary log: by this point in the suite some 90,000
      // transactions, about 20 s on MariaDB here and more on a busy machine.
      await waitFor(
        `${writer!.name} holding every row`,
        async () => {
          const actual = await writer!.adminRow(summary);
          return String(actual.total) === String(expected.total) && String(actual.ids) === String(expected.ids);
        },
        120_000,
      );
    });

    test('a wiped replica rejoins by a copy of the primary, which purged its old binary logs, under 4 writers: every row, nothing lost', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      await primary.adminQuery('FLUSH BINARY LOGS');
      const current = String((await primary.adminRow(flavor === 'mysql' ? 'SHOW BINARY LOG STATUS' : 'SHOW BINLOG STATUS')).File);
      // Every file before the one just opened: all the history there is.
      await primary.adminQuery(`PURGE BINARY LOGS TO '${current}'`);
      const fresh = cluster.pods.find((pod) => pod !== primary)!;
      const since = fresh.logMarks();
      const load = new WriteLoad(writeTarget(cluster), 4);
      try {
        await waitFor('writes acknowledged before the wipe', async () => load.acked.length > 50);
        await fresh.rebuild();
        await cluster.waitHealthy();
        const rejoinedAt = load.acked.length;
        await waitFor('writes acknowledged after it rejoined', async () => load.acked.length > rejoinedAt + 50);
      } finally {
        await load.stop();
      }
      console.log(`# ${flavor}: wiped replica copied back under load: ${load.acked.length} writes acknowledged, ${load.failures} failed`);
      assert.match(since.agent.text(), /"state":"replica-rebuilding".*no longer has binary logs holding transactions this node lacks/);
      assert.deepEqual(await ackedMissingOn(primary, load.acked), []);
      await waitFor(`${fresh.name} has every acknowledged write`, async () => (await ackedMissingOn(fresh, load.acked)).length === 0);
      const count = async (pod: TestPod) => Number((await pod.adminRow('SELECT COUNT(*) AS n FROM app.acked_writes')).n);
      await waitFor(`${fresh.name} holding every row of the primary`, async () => (await count(fresh)) === (await count(primary)));
      await assertNoErrantGtids(cluster, primary);
    });
  });

  describe(`${flavor}: asynchronous mode (MYSQL_HA_LOSSLESS=off)`, () => {
    let cluster: TestCluster;

    before(async () => {
      cluster = await TestCluster.start(flavor, { addressPrefix: ASYNC_PREFIX, env: { MYSQL_HA_LOSSLESS: 'off' } });
      await cluster.waitHealthy();
    });
    after(async () => cluster?.destroy());

    async function appQuery<T extends object = Row>(pod: TestPod, sql: string, values?: unknown[]): Promise<T[]> {
      const connection = await pod.app(cluster.secrets.app, 'app');
      try {
        return await queryRows<T>(connection, sql, values);
      } finally {
        await connection.end();
      }
    }

    /** A table of this test's own on the primary, replicated to every other pod before the test uses it. */
    async function createTable(primary: TestPod, table: string): Promise<void> {
      await appQuery(primary, `CREATE TABLE ${table} (id INT PRIMARY KEY, note VARCHAR(64))`);
      for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
        await waitFor(`table ${table} on ${pod.name}`, async () => (await pod.adminQuery('SHOW TABLES FROM app LIKE ?', [table])).length === 1, 30_000);
      }
    }

    /** How many of `ids` `pod` holds in `table`, read as the administrator. */
    async function countOn(pod: TestPod, table: string, ids: number[]): Promise<number> {
      return Number((await pod.adminRow(`SELECT COUNT(*) AS n FROM app.${table} WHERE id IN (?)`, [ids])).n);
    }

    test('replication without semi-sync: a row written on the primary is read on every replica, and replicas refuse writes', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      for (const pod of cluster.pods) {
        const status = await pod.status();
        assert.deepEqual(status.semiSync, { source: false, lossless: false }, `${pod.name} semi-sync`);
        if (pod !== primary) {
          assert.equal(status.replication?.source, primary.name, `${pod.name} source`);
          assert.equal(status.replication?.ioRunning && status.replication.sqlRunning, true, `${pod.name} replication threads`);
        }
      }
      await createTable(primary, 'async_replicated');
      await appQuery(primary, 'INSERT INTO async_replicated VALUES (1, ?)', ['asynchronous']);
      for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
        await waitFor(`the row on ${pod.name}`, async () => (await countOn(pod, 'async_replicated', [1])) === 1, 30_000);
        await assert.rejects(appQuery(pod, 'INSERT INTO async_replicated VALUES (2, ?)', ['on a replica']), (error: { errno?: number; message: string }) => {
          assert.equal(error.errno, 1290, error.message); // ER_OPTION_PREVENTS_STATEMENT: read-only
          return true;
        });
      }
      assert.deepEqual(await cluster.writable(), [primary.name], 'exactly one writable node');
    });

    test('with every replica down a commit on the primary returns without waiting, and the replicas get it once back', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replicas = cluster.pods.filter((pod) => pod !== primary);
      await createTable(primary, 'async_alone');
      await Promise.all(replicas.map((pod) => pod.stopMysqld('SIGKILL')));
      try {
        // The commit's answer is the evidence; the timeout only keeps a hang from stalling the suite.
        const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the commit did not return within 30 s')), 30_000).unref());
        await Promise.race([appQuery(primary, 'INSERT INTO async_alone VALUES (1, ?)', ['no replica up']), timeout]);
        assert.equal(await countOn(primary, 'async_alone', [1]), 1);
      } finally {
        for (const pod of replicas) pod.startMysqld();
      }
      for (const pod of replicas) await waitFor(`the row on ${pod.name}`, async () => (await countOn(pod, 'async_alone', [1])) === 1);
      await cluster.waitHealthy();
    });

    test("SIGKILL of the primary's mysqld: a replica takes over with every replicated write, takes writes; one writable node", async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      await createTable(old, 'async_failover');
      const before = Array.from({ length: 20 }, (_, index) => index + 1);
      for (const id of before) await appQuery(old, 'INSERT INTO async_failover VALUES (?, ?)', [id, 'before the failover']);
      // Acknowledged and replicated: in asynchronous mode only those are sure to survive the primary.
      for (const pod of cluster.pods.filter((candidate) => candidate !== old)) {
        await waitFor(`every row on ${pod.name}`, async () => (await countOn(pod, 'async_failover', before)) === before.length, 30_000);
      }
      const sampler = new WritableSampler(cluster.pods);
      let primary: TestPod;
      try {
        await old.stopMysqld('SIGKILL');
        primary = await waitNewPrimary(cluster, old);
      } finally {
        await sampler.stop();
      }
      assert.deepEqual(sampler.violations, [], 'two nodes were writable at the same time');
      assert.equal(await countOn(primary, 'async_failover', before), before.length, 'replicated writes missing on the new primary');
      await appQuery(primary, 'INSERT INTO async_failover VALUES (100, ?)', ['on the new primary']);
      assert.deepEqual(await cluster.writable(cluster.pods.filter((pod) => pod !== old)), [primary.name]);

      old.startMysqld();
      await cluster.waitHealthy();
      const status = await old.status();
      assert.equal(status.role, 'replica');
      assert.equal(status.replication?.source, primary.name);
      for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
        await waitFor(`the new primary's row on ${pod.name}`, async () => (await countOn(pod, 'async_failover', [100])) === 1, 30_000);
      }
      assert.deepEqual(await cluster.writable(), [primary.name], 'exactly one writable node once the old primary is back');
    });
  });

  describe(`${flavor}: five pods (quorum elections)`, {
    skip: flavor === 'mariadb' && "MariaDB's semi-sync waits for one acknowledgement: every replica must answer an election (decide.test.ts, quorum.test.ts)",
  }, () => {
    let cluster: TestCluster;

    before(async () => {
      cluster = await TestCluster.start(flavor, { addressPrefix: FIVE_PODS_PREFIX, replicas: 5, haproxy: true, env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0' } });
      await cluster.waitHealthy();
      await WriteLoad.prepare(writeTarget(cluster));
    });
    after(async () => cluster?.destroy());

    test('the primary and a replica lost at once under 4 writers: commits waited for two replicas, three elect a new primary, nothing lost', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const { acks } = await old.adminRow('SELECT @@rpl_semi_sync_source_wait_for_replica_count AS acks');
      assert.equal(Number(acks), 2, 'with five pods a commit waits for two acknowledgements');
      const lostReplica = cluster.pods.find((pod) => pod !== old)!;
      const outcome = await underLoad(cluster, async () => {
        await Promise.all([cluster.sandbox.crashPod(old), cluster.sandbox.crashPod(lostReplica)]);
        return waitNewPrimary(cluster, old);
      });
      report(flavor, `five pods, ${old.name} and ${lostReplica.name} lost at once (lease TTL ${LEASE_TTL_MS} ms)`, outcome);
      assert.notEqual(outcome.primary, lostReplica);
      assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), [], 'acknowledged writes missing on the new primary');
      assert.deepEqual(outcome.sampler.violations, []);
      for (const pod of [old, lostReplica]) cluster.sandbox.startPod(pod);
      await cluster.waitHealthy();
      await assertNoErrantGtids(cluster, outcome.primary);
    });
  });
}
