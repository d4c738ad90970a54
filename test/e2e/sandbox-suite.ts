// The sandbox as a user drives it: the real CLI, real mysqld, agents and HAProxy.
// The tests share one sandbox, started in `before`. Each waits until `sandbox status` says every
// pod is healthy and HAProxy agrees, creates the tables it writes to, and leaves the sandbox
// healthy, so it can run alone (--test-name-pattern).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type Connection, createConnection } from 'mysql2/promise';
import type { AgentStatus } from '../../agent/http/status.ts';
import { fetchStatus } from '../../agent/http/status-client.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { agentTargetsOf, type ClusterFile } from '../../agent/sandbox/cluster-file.ts';
import { isRunning } from '../../agent/sandbox/pod.ts';
import { firstRow, queryRows, type Row, waitFor } from '../support/cluster.ts';

const run = promisify(execFile);
const CLI = new URL('../../agent/cli.ts', import.meta.url).pathname;

// The CLI's exit codes (agent/cli.ts): `status` and `sandbox status` exit 1 while a pod is unhealthy;
// a mistake in the command line exits 2, a refused `sandbox up` included.
const UNHEALTHY_EXIT_CODE = 1;
const USAGE_EXIT_CODE = 2;

function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 16 * 1024 * 1024 });
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end: a non-zero exit code is an answer to check, not an error. */
async function cliResult(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await cli(...args);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function clusterFile(dir: string): ClusterFile {
  return JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterFile;
}

async function withConnection<T>(options: Parameters<typeof createConnection>[0], use: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await createConnection(options);
  try {
    return await use(connection);
  } finally {
    await connection.end();
  }
}

/** One fresh connection through a HAProxy port: which server answered, and the query's rows. */
async function through<T extends object = Row>(
  cluster: ClusterFile,
  port: 'write' | 'read',
  sql: string,
  values?: unknown[],
): Promise<{ serverId: number; rows: T[] }> {
  const { host, port: number } = cluster.haproxy[port];
  return withConnection({ host, port: number, user: cluster.app.user, password: cluster.app.password, database: cluster.app.database }, async (connection) => {
    const { serverId } = firstRow(await queryRows(connection, 'SELECT @@server_id AS serverId'), 'the server id');
    return { serverId: Number(serverId), rows: await queryRows<T>(connection, sql, values) };
  });
}

/** The admin account straight to one pod's mysqld, bypassing HAProxy. */
async function onPod<T>(cluster: ClusterFile, pod: string, use: (connection: Connection) => Promise<T>): Promise<T> {
  const mysql = cluster.pods.find((candidate) => candidate.name === pod)!.mysql;
  return withConnection({ ...mysql, user: cluster.admin.user, password: cluster.admin.password }, use);
}

async function serverIdOf(cluster: ClusterFile, pod: string): Promise<number> {
  return onPod(cluster, pod, async (connection) => Number(firstRow(await queryRows(connection, 'SELECT @@server_id AS serverId'), pod).serverId));
}

async function agentStatus(cluster: ClusterFile, pod: string): Promise<AgentStatus> {
  const target = agentTargetsOf(cluster)[cluster.pods.findIndex((candidate) => candidate.name === pod)]!;
  const answer = await fetchStatus(target.client, target.url, 2000, cluster.switchoverToken);
  if (answer.status === null) throw new Error(`${pod}: ${answer.unreachable}`);
  return answer.status;
}

/** The pod whose agent says it is the primary (never assumed to be pod 0). */
async function primaryName(cluster: ClusterFile): Promise<string> {
  return waitFor('one pod reporting itself primary', async () => {
    const statuses = await Promise.all(cluster.pods.map((pod) => agentStatus(cluster, pod.name)));
    const primaries = statuses.filter((status) => status.role === 'primary');
    return primaries.length === 1 ? primaries[0]!.pod : undefined;
  });
}

async function replicaNames(cluster: ClusterFile): Promise<string[]> {
  const primary = await primaryName(cluster);
  return cluster.pods.map((pod) => pod.name).filter((name) => name !== primary);
}

async function readServerIds(cluster: ClusterFile, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push((await through(cluster, 'read', 'SELECT 1')).serverId);
  return ids;
}

interface HaproxyServer {
  backend: string;
  server: string;
  status: string;
}

/** HAProxy's own view, from its stats page: each server of the write and read backends, and its state. */
async function haproxyServers(cluster: ClusterFile): Promise<HaproxyServer[]> {
  const csv = await (await fetch(`${cluster.haproxy.stats};csv`, { signal: AbortSignal.timeout(2000) })).text();
  const [header, ...lines] = csv.trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  return lines
    .map((line) => line.split(','))
    .filter((cells) => cells[at('pxname')]?.startsWith('mysql-') && !['FRONTEND', 'BACKEND'].includes(cells[at('svname')] ?? ''))
    .map((cells) => ({ backend: cells[at('pxname')]!, server: cells[at('svname')]!, status: cells[at('status')]! }));
}

/** HAProxy has taken `pod` out of the read rotation (DOWN, or DOWN and rising: no new connection goes to it). */
async function outOfReadRotation(cluster: ClusterFile, pod: string): Promise<boolean> {
  const servers = await haproxyServers(cluster);
  return /^DOWN/.test(servers.find((server) => server.backend === 'mysql-readable' && server.server === pod)?.status ?? '');
}

/**
 * Until the sandbox is whole again, as a user would see it: `sandbox status` exits 0 (every
 * agent healthy), and HAProxy sends reads to every pod and writes to exactly one.
 */
async function waitSettled(dir: string, cluster: ClusterFile): Promise<void> {
  await waitFor('sandbox status exiting 0', async () => (await cliResult('sandbox', 'status', '--dir', dir)).code === 0, 120_000);
  await waitFor(
    'HAProxy routing reads to every pod and writes to one',
    async () => {
      const servers = await haproxyServers(cluster);
      const readable = servers.filter((server) => server.backend === 'mysql-readable' && server.status === 'UP');
      const writable = servers.filter((server) => server.backend === 'mysql-primary' && server.status === 'UP');
      return readable.length === cluster.pods.length && writable.length === 1;
    },
    30_000,
  );
}

/** The line of `sandbox status`'s table for the agent at `agentUrl` (shown without http://, with https://) says UNHEALTHY. */
function tableSaysUnhealthy(table: string, agentUrl: string): boolean {
  const shown = agentUrl.replace(/^http:\/\//, '');
  return table.split('\n').some((line) => line.includes(` ${shown} `) && /\sUNHEALTHY\s/.test(line));
}

/** A write to one pod only, as a careless admin would do (no binary log, read-only lifted for it). */
async function writeLocally(cluster: ClusterFile, pod: string, statements: string[]): Promise<void> {
  await onPod(cluster, pod, async (connection) => {
    await connection.query('SET SESSION sql_log_bin = 0');
    if (cluster.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = OFF');
    try {
      for (const statement of statements) await connection.query(statement);
    } finally {
      if (cluster.flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = ON');
    }
  });
}

export function sandboxSuite(flavor: Flavor): void {
  describe(`${flavor}: sandbox up, HAProxy splitting reads from writes`, () => {
    let dir: string;
    let cluster: ClusterFile;

    before(async () => {
      dir = join(mkdtempSync(join(tmpdir(), `mysql-ha-sandbox-${flavor}-`)), 'sandbox');
      const { stdout } = await cli('sandbox', 'up', '--flavor', flavor, '--dir', dir);
      // The agents serve HTTPS (the sandbox has certificates), and the table says so.
      assert.match(stdout, /mysql-ha-0\s+https:\/\/127\.0\.10\.1:8080\s+primary\s+healthy/);
      // How to connect: the sandbox's own client command, and any client's.
      assert.match(stdout, /writes: +mysql-ha-agent sandbox sql --write --dir \S+ +\(any client: mysql -h 127\.0\.10\.100 -P 6446 -u app -p app\)/);
      cluster = clusterFile(dir);
    });
    after(async () => {
      await cli('sandbox', 'down', '--purge', '--dir', dir).catch(() => undefined);
    });

    test('cluster.json is private and holds no password in the printed output', async () => {
      assert.equal(statSync(join(dir, 'cluster.json')).mode & 0o777, 0o600);
      assert.equal(cluster.flavor, flavor);
      assert.equal(cluster.pods.length, 3);
      await waitSettled(dir, cluster);
      const { code, stdout } = await cliResult('sandbox', 'status', '--dir', dir);
      assert.equal(code, 0, stdout);
      for (const secret of [cluster.app.password, cluster.admin.password]) assert.ok(!stdout.includes(secret));
    });

    test('a row written through the write port is read back through the read port', async () => {
      await waitSettled(dir, cluster);
      await through(cluster, 'write', 'CREATE TABLE read_back (id INT PRIMARY KEY, note VARCHAR(64))');
      await through(cluster, 'write', 'INSERT INTO read_back VALUES (1, ?)', ['through haproxy']);
      const rows = await waitFor('row visible through the read port on every pod', async () => {
        for (let i = 0; i < 6; i++) {
          const { rows } = await through(cluster, 'read', 'SELECT note FROM read_back WHERE id = 1');
          if (rows.length !== 1) return undefined;
        }
        return (await through<{ note: string }>(cluster, 'read', 'SELECT note FROM read_back WHERE id = 1')).rows;
      });
      assert.equal(rows[0]?.note, 'through haproxy');
      // The connection hint `sandbox up` prints works: Debian's client, through the read port, as the application.
      const { stdout } = await cli('sandbox', 'sql', '--read', '--dir', dir, '-e', 'SELECT note FROM read_back WHERE id = 1');
      assert.match(stdout, /^through haproxy$/m);
    });

    test('over 30 fresh connections to the read port, every pod answers at least once', async () => {
      await waitSettled(dir, cluster);
      const seen = new Set(await readServerIds(cluster, 30));
      const all = await Promise.all(cluster.pods.map((pod) => serverIdOf(cluster, pod.name)));
      assert.deepEqual([...seen].sort(), [...all].sort());
    });

    test('the write port only ever reaches the primary', async () => {
      await waitSettled(dir, cluster);
      const primaryId = await serverIdOf(cluster, await primaryName(cluster));
      for (let i = 0; i < 20; i++) assert.equal((await through(cluster, 'write', 'SELECT 1')).serverId, primaryId);
    });

    test("a replica's mysqld killed: reads keep succeeding and stop reaching it, sandbox status exits 1; restarted, it is back", async () => {
      await waitSettled(dir, cluster);
      const victim = (await replicaNames(cluster)).at(-1)!;
      const victimId = await serverIdOf(cluster, victim);
      await cli('sandbox', 'kill', victim, '--dir', dir);
      // Reads go on while HAProxy takes the dead replica out of the rotation: a connection that
      // reaches it is retried on another server. How soon that happens is a documented bound
      // (failureDetectionSeconds), checked by test/unit/haproxy-routing.test.ts and measured by
      // the benchmark; here the timeout only keeps a hang from stalling the suite.
      const failures: string[] = [];
      await waitFor(
        `${victim} out of the read rotation`,
        async () => {
          for (let i = 0; i < 3; i++) await through(cluster, 'read', 'SELECT 1').catch((error: Error) => failures.push(error.message));
          return outOfReadRotation(cluster, victim);
        },
        30_000,
      );
      assert.deepEqual(failures, [], 'reads failed while HAProxy was taking the dead replica out');
      const ids = await readServerIds(cluster, 20);
      assert.ok(!ids.includes(victimId), `reads still reached ${victim} after HAProxy marked it down`);
      const { code, stdout } = await cliResult('sandbox', 'status', '--dir', dir);
      assert.equal(code, UNHEALTHY_EXIT_CODE, `sandbox status must exit 1 while ${victim} is unhealthy:\n${stdout}`);
      assert.ok(tableSaysUnhealthy(stdout, cluster.pods.find((pod) => pod.name === victim)!.agent), stdout);

      await cli('sandbox', 'start', victim, '--dir', dir);
      await waitFor(`${victim} back in the read rotation`, async () => (await readServerIds(cluster, 6)).includes(victimId));
      await waitSettled(dir, cluster);
    });

    test('a replica with broken replication leaves the read rotation, and status --json exits 1 saying why', async () => {
      await waitSettled(dir, cluster);
      await through(cluster, 'write', 'CREATE TABLE broken_replication (id INT PRIMARY KEY, note VARCHAR(64))');
      const victim = (await replicaNames(cluster))[0]!;
      const victimId = await serverIdOf(cluster, victim);
      await waitFor(`the table on ${victim}`, async () =>
        onPod(cluster, victim, async (connection) => (await queryRows(connection, "SHOW TABLES FROM app LIKE 'broken_replication'")).length === 1),
      );
      // A careless local write on the replica, then the same key on the primary: the replica's SQL thread stops.
      await writeLocally(cluster, victim, ["INSERT INTO app.broken_replication VALUES (2, 'local')"]);
      await through(cluster, 'write', 'INSERT INTO broken_replication VALUES (2, ?)', ['primary']);
      await waitFor(`${victim} reports broken replication`, async () => (await agentStatus(cluster, victim)).replication?.sqlRunning === false);
      await waitFor(`${victim} out of the read rotation`, async () => outOfReadRotation(cluster, victim), 30_000);
      const ids = await readServerIds(cluster, 30);
      assert.ok(!ids.includes(victimId), `reads reached ${victim} while its replication was broken`);
      const primaryId = await serverIdOf(cluster, await primaryName(cluster));
      for (let i = 0; i < 10; i++) assert.equal((await through(cluster, 'write', 'SELECT 1')).serverId, primaryId);

      const { code, stdout } = await cliResult('status', '--dir', dir, '--json');
      assert.equal(code, UNHEALTHY_EXIT_CODE, 'status must exit 1 while a pod is unhealthy');
      const statuses = JSON.parse(stdout) as AgentStatus[];
      const broken = statuses.find((status) => status.pod === victim);
      assert.equal(broken?.healthy, false);
      assert.match(broken?.replication?.lastError ?? '', /Duplicate entry '2'|1062/);
      assert.deepEqual(
        statuses.filter((status) => status.pod !== victim).map((status) => status.healthy),
        [true, true],
      );

      // Repaired without binlogging the fix, then restarted: back in rotation.
      await writeLocally(cluster, victim, ['DELETE FROM app.broken_replication WHERE id = 2', 'START REPLICA']);
      await waitFor(`${victim} back in the read rotation`, async () => (await readServerIds(cluster, 6)).includes(victimId));
      await waitSettled(dir, cluster);
    });

    test("status --json gives every agent's /status and exits 0 when every pod is healthy", async () => {
      await waitSettled(dir, cluster);
      const { code, stdout } = await cliResult('status', '--dir', dir, '--json');
      assert.equal(code, 0, stdout);
      const statuses = JSON.parse(stdout) as AgentStatus[];
      assert.deepEqual(
        statuses.map((status) => status.pod),
        ['mysql-ha-0', 'mysql-ha-1', 'mysql-ha-2'],
      );
      assert.ok(statuses.every((status) => status.healthy));
      assert.equal(statuses.filter((status) => status.role === 'primary').length, 1);
    });

    test('sandbox stop then start of a pod: its data is kept, it catches up and comes back healthy', async () => {
      await waitSettled(dir, cluster);
      const pod = (await replicaNames(cluster))[0]!;
      const entry = (file: ClusterFile) => file.pods.find((candidate) => candidate.name === pod)!;
      await through(cluster, 'write', 'CREATE TABLE stop_start (id INT PRIMARY KEY, note VARCHAR(64))');
      await through(cluster, 'write', 'INSERT INTO stop_start VALUES (1, ?)', ['before the stop']);
      // A table on this pod only, never replicated: only a kept data dir can still hold it.
      await writeLocally(cluster, pod, ['CREATE TABLE app.kept_locally (id INT PRIMARY KEY)', 'INSERT INTO app.kept_locally VALUES (7)']);
      const running = entry(clusterFile(dir)).pid;

      await cli('sandbox', 'stop', pod, '--dir', dir);
      assert.deepEqual(entry(clusterFile(dir)).pid, { mysqld: null, agent: null }, 'cluster.json still lists the stopped processes');
      for (const pid of [running.mysqld, running.agent]) assert.equal(isRunning(pid ?? undefined), false, `process ${pid} still running after sandbox stop`);
      const { code, stdout } = await cliResult('sandbox', 'status', '--dir', dir);
      assert.equal(code, UNHEALTHY_EXIT_CODE, `sandbox status must exit 1 while ${pod} is stopped:\n${stdout}`);
      assert.ok(tableSaysUnhealthy(stdout, entry(cluster).agent), stdout);
      await through(cluster, 'write', 'INSERT INTO stop_start VALUES (2, ?)', ['while it was stopped']);

      await cli('sandbox', 'start', pod, '--dir', dir);
      const started = entry(clusterFile(dir)).pid;
      assert.ok(isRunning(started.mysqld ?? undefined) && isRunning(started.agent ?? undefined), 'cluster.json lists the restarted processes');
      await waitSettled(dir, cluster);
      await onPod(cluster, pod, async (connection) => {
        assert.deepEqual(
          (await queryRows(connection, 'SELECT id FROM app.kept_locally')).map((row) => Number(row.id)),
          [7],
          'the data dir was not kept',
        );
        const rows = await waitFor(`both rows on ${pod}`, async () => {
          const found = await queryRows<{ id: number; note: string }>(connection, 'SELECT id, note FROM app.stop_start ORDER BY id');
          return found.length === 2 ? found : undefined;
        });
        assert.deepEqual(
          rows.map((row) => row.note),
          ['before the stop', 'while it was stopped'],
        );
      });
      assert.equal((await agentStatus(cluster, pod)).role, 'replica');
    });

    test('restart (CLI): a replica drains its reads first (none fails); the primary is switched over first (no write lost); both rejoin', async () => {
      await waitSettled(dir, cluster);
      await through(cluster, 'write', 'CREATE TABLE restarted (id INT PRIMARY KEY)');
      /** Runs `restart pod` under `load`, checking that mysqld of `pod` really started again. */
      const restartUnder = async (pod: string, load: (running: () => boolean) => Promise<void>) => {
        let running = true;
        const loaded = load(() => running);
        const startedAt = Date.now();
        try {
          const { stdout } = await cli('restart', pod, '--dir', dir);
          console.log(`# ${flavor}: restart ${pod}: ${stdout.trim().replaceAll('\n', ' | ')}`);
          const uptime = await onPod(cluster, pod, async (connection) => Number((await queryRows(connection, "SHOW GLOBAL STATUS LIKE 'Uptime'"))[0]!.Value));
          assert.ok(uptime * 1000 <= Date.now() - startedAt + 1000, `mysqld of ${pod} has been up ${uptime} s: it was not restarted`);
          return stdout;
        } finally {
          running = false;
          await loaded;
        }
      };

      const replica = (await replicaNames(cluster))[0]!;
      const readFailures: string[] = [];
      const replicaOutput = await restartUnder(replica, async (running) => {
        while (running()) await through(cluster, 'read', 'SELECT 1').catch((error: Error) => readFailures.push(error.message));
      });
      assert.match(replicaOutput, new RegExp(`^restart: mysqld of ${replica} restarted in \\d+ ms; it rejoins as a replica$`, 'm'));
      assert.deepEqual(readFailures, [], 'reads failed through the read port while the replica restarted');
      await waitSettled(dir, cluster);

      const old = await primaryName(cluster);
      const acked: number[] = [];
      const primaryOutput = await restartUnder(old, async (running) => {
        for (let id = 1; running(); id++) {
          await through(cluster, 'write', 'INSERT INTO restarted VALUES (?)', [id]).then(
            () => acked.push(id),
            () => undefined,
          );
        }
      });
      assert.match(primaryOutput, new RegExp(`^restart: ${old} is the primary: switched over to mysql-ha-\\d first`, 'm'));
      await waitSettled(dir, cluster);
      assert.notEqual(await primaryName(cluster), old);
      assert.equal((await agentStatus(cluster, old)).role, 'replica');
      const stored = new Set((await through<{ id: number }>(cluster, 'write', 'SELECT id FROM restarted')).rows.map((row) => Number(row.id)));
      assert.ok(acked.length > 0);
      assert.deepEqual(
        acked.filter((id) => !stored.has(id)),
        [],
        'acknowledged writes missing on the new primary',
      );
    });

    test('sandbox scale 4, then 3: the new pod joins with every row and gets reads; scaled back, it leaves every peer list', async () => {
      await waitSettled(dir, cluster);
      await through(cluster, 'write', 'CREATE TABLE scaled (id INT PRIMARY KEY)');
      await through(cluster, 'write', 'INSERT INTO scaled VALUES (1), (2), (3)');
      const up = await cli('sandbox', 'scale', '4', '--dir', dir);
      assert.match(up.stdout, /^mysql-ha-3 +https:\/\/127\.0\.10\.4:8080 +replica +healthy /m);
      const four = clusterFile(dir);
      assert.equal(four.pods.length, 4);
      await onPod(four, 'mysql-ha-3', async (connection) => {
        assert.deepEqual(
          (await queryRows(connection, 'SELECT id FROM app.scaled ORDER BY id')).map((row) => Number(row.id)),
          [1, 2, 3],
        );
      });
      for (const pod of four.pods) {
        await waitFor(`${pod.name} counting mysql-ha-3 among its peers`, async () => (await agentStatus(four, pod.name)).peers.includes('mysql-ha-3'));
      }
      const addedId = await serverIdOf(four, 'mysql-ha-3');
      await waitFor('reads through HAProxy reaching mysql-ha-3', async () => (await readServerIds(four, 8)).includes(addedId));

      const down = await cli('sandbox', 'scale', '3', '--dir', dir);
      assert.doesNotMatch(down.stdout, /mysql-ha-3/);
      cluster = clusterFile(dir);
      assert.equal(cluster.pods.length, 3);
      assert.equal(isRunning(four.pods[3]!.pid.mysqld ?? undefined), false, 'the removed pod stopped');
      for (const pod of cluster.pods) {
        await waitFor(`${pod.name} no longer counting mysql-ha-3`, async () => !(await agentStatus(cluster, pod.name)).peers.includes('mysql-ha-3'));
      }
      const { code } = await cliResult('sandbox', 'status', '--dir', dir);
      assert.equal(code, 0);
    });

    test('sandbox up on a directory whose sandbox is running: refused with a clear message, the sandbox untouched', async () => {
      await waitSettled(dir, cluster);
      const saved = clusterFile(dir);
      const again = await cliResult('sandbox', 'up', '--flavor', flavor, '--dir', dir);
      assert.equal(again.code, USAGE_EXIT_CODE, again.stdout);
      assert.match(again.stderr, /the sandbox in \S+ is already running: see sandbox status, or sandbox down first/);
      const other = flavor === 'mysql' ? 'mariadb' : 'mysql';
      const otherFlavor = await cliResult('sandbox', 'up', '--flavor', other, '--dir', dir);
      assert.equal(otherFlavor.code, USAGE_EXIT_CODE, otherFlavor.stdout);
      assert.match(otherFlavor.stderr, new RegExp(`holds a ${flavor} sandbox; use --flavor ${flavor} or another --dir`));
      assert.deepEqual(clusterFile(dir), saved, 'a refused sandbox up changed cluster.json');
      const pids = [saved.haproxy.pid, saved.etcd.pid, ...saved.pods.flatMap((pod) => [pod.pid.mysqld, pod.pid.agent])];
      for (const pid of pids) assert.ok(pid !== null && isRunning(pid), `process ${pid} stopped by a refused sandbox up`);
      assert.equal((await cliResult('sandbox', 'status', '--dir', dir)).code, 0);
    });

    test('sandbox down leaves no process running; up again (same pod count only) reuses the data and is healthy', async () => {
      await waitSettled(dir, cluster);
      await through(cluster, 'write', 'CREATE TABLE down_up (id INT PRIMARY KEY, note VARCHAR(64))');
      await through(cluster, 'write', 'INSERT INTO down_up VALUES (1, ?)', ['before down']);
      const saved = clusterFile(dir);
      await cli('sandbox', 'down', '--dir', dir);
      const pids = [saved.haproxy.pid, saved.etcd.pid, ...saved.pods.flatMap((pod) => [pod.pid.mysqld, pod.pid.agent])].filter(
        (pid): pid is number => pid !== null,
      );
      assert.equal(pids.length, 8);
      for (const pid of pids) assert.equal(isRunning(pid), false, `process ${pid} still running after sandbox down`);

      const resized = await cliResult('sandbox', 'up', '--flavor', flavor, '--replicas', '2', '--dir', dir);
      assert.equal(resized.code, USAGE_EXIT_CODE, resized.stdout);
      assert.match(resized.stderr, /holds 3 pods; use --replicas 3 or another --dir/);
      const { stdout: processes } = await run('ps', ['-eo', 'args']);
      assert.ok(!processes.includes(dir), 'a refused sandbox up started a process');

      const { stdout } = await cli('sandbox', 'up', '--flavor', flavor, '--dir', dir);
      assert.match(stdout, /sandbox is up/);
      const restarted = clusterFile(dir);
      await waitSettled(dir, restarted);
      const { rows } = await through<{ note: string }>(restarted, 'write', 'SELECT note FROM down_up WHERE id = 1');
      assert.equal(rows[0]?.note, 'before down');
      for (const pod of restarted.pods) {
        const notes = await onPod(restarted, pod.name, async (connection) => queryRows<{ note: string }>(connection, 'SELECT note FROM app.down_up'));
        assert.deepEqual(
          notes.map((row) => row.note),
          ['before down'],
          `${pod.name} after up`,
        );
      }
      assert.equal((await cliResult('sandbox', 'status', '--dir', dir)).code, 0);
    });
  });
}

export function sandboxArgumentSuite(): void {
  describe('sandbox: bad arguments', () => {
    const dir = () => join(mkdtempSync(join(tmpdir(), 'mysql-ha-sandbox-bad-')), 'sandbox');

    for (const [name, args, message] of [
      ['unknown flavour', ['--flavor', 'postgres'], /unknown flavour "postgres": use mysql or mariadb/],
      ['zero replicas', ['--replicas', '0'], /--replicas must be a whole number from 1 to 9 \(got "0"\)/],
      ['--mysqld with mariadb', ['--flavor', 'mariadb', '--mysqld', '/usr/sbin/mariadbd'], /--mysqld applies to --flavor mysql only/],
    ] as const) {
      test(`${name}: a clear error and nothing started`, async () => {
        await assert.rejects(cli('sandbox', 'up', '--dir', dir(), ...args), (error: { code: number; stderr: string }) => {
          assert.equal(error.code, USAGE_EXIT_CODE);
          assert.match(error.stderr, message);
          return true;
        });
      });
    }

    test('an address already taken: a clear error, and nothing half-started left running', async () => {
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(3306, '127.0.10.2', resolve));
      const sandboxDir = dir();
      try {
        await assert.rejects(cli('sandbox', 'up', '--flavor', 'mariadb', '--dir', sandboxDir), (error: { stderr: string }) => {
          assert.match(error.stderr, /mysql-ha-1: 127\.0\.10\.2:3306 is already in use/);
          return true;
        });
        const { stdout } = await run('ps', ['-eo', 'args']);
        assert.ok(!stdout.includes(sandboxDir), 'a process of the failed sandbox is still running');
      } finally {
        squatter.close();
        rmSync(sandboxDir, { recursive: true, force: true });
      }
    });
  });
}
