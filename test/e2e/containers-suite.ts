// The cluster as real container pods (sandbox up --runtime docker): images built here from
// Dockerfile.agent and Dockerfile.mysql, each pod a network namespace with the stage init
// container, the server and the agent containers, peers reached by their DNS names, etcd and
// HAProxy in containers. Faults only containers show: Docker restarting a killed server, a
// whole pod killed, a pod cut off the network, a pod back with a new IP address.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConnection } from 'mysql2/promise';
import { NODE_BASE_IMAGE } from '../../agent/containers/base-images.ts';
import { docker } from '../../agent/containers/docker.ts';
import { AGENT_IMAGE, imageSize } from '../../agent/containers/images.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { parseStatsCsv } from '../../agent/sandbox/haproxy-process.ts';
import { MYSQL_PORT } from '../../agent/sandbox/pod.ts';
import { queryRows, waitFor } from '../support/cluster.ts';
import { buildTestImages, ContainerTestCluster, type ContainerTestPod } from '../support/container-cluster.ts';
import { ackedMissingOn, assertNoErrantGtids, lastLeaseChange, report, underLoad, waitNewPrimary, writeTarget } from '../support/failover-checks.ts';
import { replicationTls } from '../support/replication-tls.ts';
import { rootLoginsAccepted } from '../support/root-login.ts';
import { WriteLoad } from '../support/write-load.ts';

const PREFIX = '127.0.16.';
const MAX_AGENT_LAYER_BYTES = 30e6;

export function containersSuite(flavor: Flavor): void {
  describe(`${flavor}: the cluster as container pods`, () => {
    let cluster: ContainerTestCluster;

    before(async () => {
      await buildTestImages(flavor);
      // No anti-flapping window: this suite fails over several times in a row on purpose. No
      // grace for a server that stops answering: Docker restarts a killed server within about a
      // second, often inside the default grace, and this suite wants the failover every time.
      cluster = await ContainerTestCluster.start(flavor, {
        addressPrefix: PREFIX,
        env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0', MYSQL_HA_MYSQLD_DOWN_GRACE_MS: '0' },
      });
      await WriteLoad.prepare(writeTarget(cluster));
    });
    after(async () => cluster?.destroy());

    /** A connection through HAProxy's write or read port, as the application. */
    async function throughHaproxy(port: 'write' | 'read') {
      const described = cluster.sandbox.describe();
      const { host, port: number } = described.haproxy[port];
      return createConnection({ host, port: number, user: described.app.user, password: described.app.password, database: described.app.database });
    }

    async function countOn(pod: ContainerTestPod, table: string, id: number): Promise<number> {
      return Number((await pod.adminRow(`SELECT COUNT(*) AS n FROM app.${table} WHERE id = ?`, [id])).n);
    }

    /** Until every pod holds row `id` of `table`. */
    async function replicatedEverywhere(table: string, id: number): Promise<void> {
      for (const pod of cluster.pods) await waitFor(`row ${id} of ${table} on ${pod.name}`, async () => (await countOn(pod, table, id)) === 1, 30_000);
    }

    test('the agent image: non-root, read-only root file system, one small layer on its Node base', async () => {
      const [pod] = cluster.pods;
      assert.equal(await docker(['image', 'inspect', '--format', '{{.Config.User}}', AGENT_IMAGE]), '999:999');
      assert.equal(await docker(['exec', pod!.containers.agent, 'id', '-u']), '999');
      assert.equal(await docker(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', pod!.containers.agent]), 'true');
      await assert.rejects(docker(['exec', pod!.containers.agent, 'sh', '-c', 'echo x > /app/written']), /Read-only file system/);
      const layer = (await imageSize(AGENT_IMAGE)) - (await imageSize(NODE_BASE_IMAGE));
      console.log(`# ${flavor}: agent image ${((await imageSize(AGENT_IMAGE)) / 1e6).toFixed(1)} MB, ${(layer / 1e6).toFixed(1)} MB on ${NODE_BASE_IMAGE}`);
      assert.ok(layer <= MAX_AGENT_LAYER_BYTES, `the agent's layer is ${layer} bytes, over ${MAX_AGENT_LAYER_BYTES}`);
      // The image the pods run: for MariaDB, the agent on the server's base with mariadb-backup.
      const podImage = cluster.sandbox.agentImage;
      assert.equal(await docker(['inspect', '--format', '{{.Config.Image}}', pod!.containers.agent]), podImage);
      if (podImage !== AGENT_IMAGE) {
        const tool = await docker(['exec', pod!.containers.agent, 'mariadb-backup', '--version'], { withStderr: true });
        const server = String((await pod!.adminRow('SELECT @@version AS version')).version);
        assert.ok(tool.includes(server.split('-')[0]!), `mariadb-backup (${tool}) is not the server's version ${server}`);
        console.log(`# ${flavor}: the pods' agent image ${podImage} ${((await imageSize(podImage)) / 1e6).toFixed(1)} MB (${tool})`);
      }
    });

    test('the server container: its entrypoint initialised the empty volume and runs the staged cnf, as the mysql user; root is locked', async () => {
      for (const [ordinal, pod] of cluster.pods.entries()) {
        assert.match(await pod.logs('mysql', 10_000), new RegExp(`initialising the ${flavor} data directory /var/lib/mysql`));
        const row = await pod.adminRow('SELECT @@server_id AS serverId, @@datadir AS datadir, @@log_bin AS logBin');
        assert.equal(Number(row.serverId), 100 + ordinal, `${pod.name}: the staged cnf's server_id`);
        assert.equal(String(row.datadir).replace(/\/$/, ''), '/var/lib/mysql');
        assert.equal(Number(row.logBin), 1);
        assert.equal(await docker(['exec', pod.containers.mysql, 'id', '-u']), '999');
      }
      // The image's root account (its initialisation leaves it without a password) is locked by the staged init SQL.
      const accepted = (await Promise.all(cluster.pods.map((pod) => rootLoginsAccepted(pod, MYSQL_PORT)))).flat();
      assert.deepEqual(accepted, [], 'root logs in without a password');
    });

    test('bootstrap: one primary found by DNS name; writes through HAProxy are read through it and on every pod; replicas refuse writes', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
        const status = await pod.status();
        assert.equal(status.replication?.source, primary.name);
        // The replica follows the primary by its name on the headless Service, not an address.
        const replication = await pod.adminRow('SHOW REPLICA STATUS');
        assert.equal(replication.Source_Host ?? replication.Master_Host, primary.host);
        // Over TLS, the primary's certificate checked against the CA and that name (one certificate for the StatefulSet).
        assert.deepEqual(await replicationTls(flavor, pod), { encrypted: true, caFile: '/etc/mysql-ha/tls/ca.crt', verified: true }, pod.name);
      }
      const writer = await throughHaproxy('write');
      try {
        await queryRows(writer, 'CREATE TABLE split (id INT PRIMARY KEY, note VARCHAR(64))');
        await queryRows(writer, 'INSERT INTO split VALUES (1, ?)', ['through the write port']);
      } finally {
        await writer.end();
      }
      await replicatedEverywhere('split', 1);
      const servers = new Set<number>();
      for (let attempt = 0; attempt < 12; attempt++) {
        const reader = await throughHaproxy('read');
        try {
          const [row] = await queryRows(reader, 'SELECT @@server_id AS serverId, (SELECT note FROM split WHERE id = 1) AS note');
          assert.equal(row?.note, 'through the write port');
          servers.add(Number(row?.serverId));
        } finally {
          await reader.end();
        }
      }
      assert.equal(servers.size, cluster.pods.length, `reads reached ${[...servers].join(', ')}, not every pod`);
      for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
        const connection = await pod.app(cluster.sandbox.secrets.app, 'app');
        try {
          await assert.rejects(queryRows(connection, 'INSERT INTO split VALUES (2, ?)', ['on a replica']), (error: { errno?: number }) => error.errno === 1290);
        } finally {
          await connection.end();
        }
      }
    });

    test('in a pod, `mysql-ha-agent list` needs no flags: the agent container has its peers by DNS name, the CA and the token', async () => {
      await cluster.waitHealthy();
      const table = await docker(['exec', cluster.pods[1]!.containers.agent, 'mysql-ha-agent', 'list']);
      console.log(`# ${flavor}: kubectl exec mysql-ha-1 -c agent -- mysql-ha-agent list, in Docker:\n${table}`);
      for (const pod of cluster.pods) assert.match(table, new RegExp(`^${pod.name} +https://${pod.host}:8080 +(primary|replica) +healthy `, 'm'));
      assert.doesNotMatch(table, /withheld/, 'the token was found: reasons are shown');
    });

    test('SIGTERM to a server container: its entrypoint passes it on and the server shuts down cleanly; started again, it catches up', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replica = cluster.pods.find((pod) => pod !== primary)!;
      await docker(['stop', '--time', '60', replica.containers.mysql]);
      try {
        assert.equal(await docker(['inspect', '--format', '{{.State.ExitCode}}', replica.containers.mysql]), '0');
        assert.match(await replica.logs('mysql', 30), /Shutdown complete/);
        const writer = await throughHaproxy('write');
        try {
          await queryRows(writer, 'CREATE TABLE IF NOT EXISTS after_stop (id INT PRIMARY KEY)');
          await queryRows(writer, 'INSERT INTO after_stop VALUES (1)');
        } finally {
          await writer.end();
        }
      } finally {
        await docker(['start', replica.containers.mysql]);
      }
      await replicatedEverywhere('after_stop', 1);
      await cluster.waitHealthy();
    });

    test('a replica with a transaction of its own: its agent copies the primary over it and its entrypoint starts the server on the copy', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const replica = cluster.pods.find((pod) => pod !== primary)!;
      const fence = flavor === 'mysql' ? 'super_read_only' : 'read_only';
      // What a former primary's never-acknowledged commit leaves, made on purpose with the agent stopped.
      await docker(['stop', '--time', '60', replica.containers.agent]);
      try {
        const root = await replica.admin();
        try {
          await root.query('STOP REPLICA');
          await root.query('RESET REPLICA ALL');
          await root.query(`SET GLOBAL ${fence} = OFF`);
          await root.query('CREATE TABLE IF NOT EXISTS app.own_only (id INT PRIMARY KEY)');
          await root.query(`SET GLOBAL ${fence} = ON`);
        } finally {
          await root.end();
        }
      } finally {
        await docker(['start', replica.containers.agent]);
      }
      // MySQL clones, and the server exits 16 to be started again; MariaDB's agent streams a
      // mariadb-backup from a peer's agent and has the entrypoint hold the server while it swaps the data in.
      const restarted = flavor === 'mysql' ? /asked to be started again \(exit status 16, after a clone\)/ : /holding mariadbd stopped for the agent/;
      await waitFor(`${replica.name} started again by its entrypoint on the copy`, async () => restarted.test(await replica.logs('mysql', 400)));
      await cluster.waitHealthy();
      assert.equal((await replica.status()).replication?.source, primary.name);
      assert.deepEqual(await replica.adminQuery("SHOW TABLES FROM app LIKE 'own_only'"), [], "the copy replaced the replica's own table");
      await assertNoErrantGtids(cluster, primary);
    });

    test("failover under 4 writers, the primary's server process killed (Docker restarts it): nothing acknowledged lost, one writable node", async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const outcome = await underLoad(cluster, async () => {
        await cluster.sandbox.killServer(old);
        return waitNewPrimary(cluster, old);
      });
      report(flavor, 'containers: server process killed', outcome);
      assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), []);
      assert.deepEqual(outcome.sampler.violations, []);
      // Docker brought the server back in the same container; the old primary rejoins as a replica.
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication?.source, outcome.primary.name);
      await assertNoErrantGtids(cluster, outcome.primary);
    });

    test('the primary pod deleted (as the kubelet does, preStop hook included) under 4 writers: it hands over first; nothing lost; no clone', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const clonesBefore = (await old.logs('agent', 100_000)).split('"state":"replica-rebuilding"').length;
      let hook = '';
      const outcome = await underLoad(cluster, async () => {
        hook = await cluster.sandbox.stopPod(old);
        return waitNewPrimary(cluster, old);
      });
      report(flavor, 'containers: primary pod deleted', outcome);
      assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), []);
      assert.deepEqual(outcome.sampler.violations, [], 'two nodes were writable at the same time');
      assert.deepEqual(lastLeaseChange(await outcome.primary.status()), { holder: outcome.primary.name, how: 'hand-over' });
      assert.match(await old.logs('agent', 50), new RegExp(`pod terminating: handing the lease over to ${outcome.primary.name}`));
      assert.match(hook, /mysql-ha pre-stop: mysqld may stop \(the agent stopped on SIGTERM\)/, 'the server container waited for its agent');
      await cluster.sandbox.startPod(old);
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication?.source, outcome.primary.name);
      assert.equal((await old.logs('agent', 100_000)).split('"state":"replica-rebuilding"').length, clonesBefore, `${old.name} needed a clone to rejoin`);
      await assertNoErrantGtids(cluster, outcome.primary);
    });

    test('failover under 4 writers, the whole primary pod killed: nothing acknowledged lost; started again it rejoins as a replica', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      const outcome = await underLoad(cluster, async () => {
        await cluster.sandbox.crashPod(old);
        return waitNewPrimary(cluster, old);
      });
      report(flavor, 'containers: whole pod killed', outcome);
      assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), []);
      assert.deepEqual(outcome.sampler.violations, []);
      await cluster.sandbox.startPod(old);
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication?.source, outcome.primary.name);
      await assertNoErrantGtids(cluster, outcome.primary);
    });

    // MySQL, cut off from every replica: its commits wait for an acknowledgement that cannot
    // come, and super_read_only waits behind them; the agent then shuts its mysqld down
    // (seen in this test: MHA_MYSQL_FENCED_BY_SHUTDOWN) and Docker starts it again read-only.
    test('a partitioned primary fences itself before its lease can expire; healed, it rejoins, copied over where it must be', async () => {
      await cluster.waitHealthy();
      const old = await cluster.currentPrimary();
      let outcome: Awaited<ReturnType<typeof underLoad<ContainerTestPod>>>;
      try {
        outcome = await underLoad(cluster, async () => {
          await cluster.sandbox.partition(old);
          // Its server is still reachable from here, through the socket in its run volume.
          await waitFor(`${old.name} read-only while cut off`, async () => Number((await old.adminRow('SELECT @@read_only AS readOnly')).readOnly) === 1);
          return waitNewPrimary(cluster, old);
        });
      } finally {
        await cluster.sandbox.heal(old);
      }
      report(flavor, 'containers: primary partitioned', outcome);
      assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), []);
      assert.deepEqual(outcome.sampler.violations, [], 'two nodes were writable at the same time');
      // Commits that waited for a replica's acknowledgement when the pod was cut off were never
      // acknowledged, but are in its binary log: its agent copies the new primary over them
      // (MySQL: clone; MariaDB: mariadb-backup from a peer's agent) and it rejoins.
      await cluster.waitHealthy();
      assert.equal((await old.status()).replication?.source, outcome.primary.name);
      await assertNoErrantGtids(cluster, outcome.primary);
    });

    test('a pod back with a new IP address: HAProxy and the replicas follow it by name, and a switchover to it loses nothing', async () => {
      await cluster.waitHealthy();
      const primary = await cluster.currentPrimary();
      const moved = cluster.pods.find((pod) => pod !== primary)!;
      const { before, after } = await cluster.sandbox.restartWithNewAddress(moved);
      assert.notEqual(after, before, `${moved.name} came back on the same address`);
      await cluster.waitHealthy();
      // Its old address answers nothing now: HAProxy reaching it (UP, and serving reads) means it resolved the new one.
      const stats = await fetch(cluster.sandbox.describe().haproxy.stats.replace(/\/stats$/, '/stats;csv')).then((response) => response.text());
      assert.equal(parseStatsCsv(stats).find((server) => server.backend === 'mysql-readable' && server.server === moved.name)?.status, 'UP');
      const movedServerId = Number((await moved.adminRow('SELECT @@server_id AS serverId')).serverId);
      await waitFor(`a read through HAProxy served by ${moved.name} at ${after}`, async () => {
        const reader = await throughHaproxy('read');
        try {
          return Number((await queryRows(reader, 'SELECT @@server_id AS serverId'))[0]?.serverId) === movedServerId;
        } finally {
          await reader.end();
        }
      });

      const outcome = await underLoad(cluster, async () => {
        const answer = await primary.control('/switchover', { candidate: moved.name });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        return waitNewPrimary(cluster, primary);
      });
      report(flavor, 'containers: planned switchover', outcome);
      assert.equal(outcome.primary.name, moved.name);
      assert.deepEqual(await ackedMissingOn(moved, outcome.load.acked), []);
      assert.deepEqual(outcome.sampler.violations, []);
      await cluster.waitHealthy();
      for (const pod of cluster.pods.filter((candidate) => candidate !== moved)) assert.equal((await pod.status()).replication?.source, moved.name);
      await assertNoErrantGtids(cluster, moved);
    });
  });
}
