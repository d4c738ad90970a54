// The sandbox as a user drives it: the real CLI, real mysqld, agents and HAProxy.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type Connection, createConnection } from 'mysql2/promise';
import { failureDetectionSeconds } from '../../agent/haproxy/config.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import type { ClusterFile } from '../../agent/sandbox/cluster.ts';
import { isRunning } from '../../agent/sandbox/pod.ts';
import { waitFor } from '../support/cluster.ts';

const run = promisify(execFile);
const CLI = new URL('../../agent/cli.ts', import.meta.url).pathname;
// An agent notices a change on its next observation (1 s loop), HAProxy within its documented detection time.
const DETECTION_MS = 1000 + failureDetectionSeconds * 1000 + 500;

function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 16 * 1024 * 1024 });
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
async function through(cluster: ClusterFile, port: 'write' | 'read', sql: string, values?: unknown[]): Promise<{ serverId: number; rows: any[] }> {
  const { host, port: number } = cluster.haproxy[port];
  return withConnection({ host, port: number, user: cluster.app.user, password: cluster.app.password, database: cluster.app.database }, async (connection) => {
    const [[{ serverId }]] = (await connection.query('SELECT @@server_id AS serverId')) as any;
    const [rows] = await connection.query(sql, values);
    return { serverId: Number(serverId), rows: rows as any[] };
  });
}

async function serverIdOf(cluster: ClusterFile, pod: string): Promise<number> {
  const mysql = cluster.pods.find((candidate) => candidate.name === pod)!.mysql;
  return withConnection({ ...mysql, user: cluster.admin.user, password: cluster.admin.password }, async (connection) => {
    const [[row]] = (await connection.query('SELECT @@server_id AS serverId')) as any;
    return Number(row.serverId);
  });
}

async function agentStatus(cluster: ClusterFile, pod: string): Promise<any> {
  const agent = cluster.pods.find((candidate) => candidate.name === pod)!.agent;
  return (await fetch(`${agent}/status`, { signal: AbortSignal.timeout(2000) })).json();
}

async function readServerIds(cluster: ClusterFile, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push((await through(cluster, 'read', 'SELECT 1')).serverId);
  return ids;
}

export function sandboxSuite(flavor: Flavor): void {
  describe(`${flavor}: sandbox up, HAProxy splitting reads from writes`, () => {
    let dir: string;
    let cluster: ClusterFile;

    before(async () => {
      dir = join(mkdtempSync(join(tmpdir(), `mysql-ha-sandbox-${flavor}-`)), 'sandbox');
      const { stdout } = await cli('sandbox', 'up', '--flavor', flavor, '--dir', dir);
      assert.match(stdout, /mysql-ha-0\s+127\.0\.10\.1:8080\s+primary\s+healthy/);
      assert.match(stdout, /writes: +mysql -h 127\.0\.10\.100 -P 6446/);
      cluster = clusterFile(dir);
    });
    after(async () => {
      await cli('sandbox', 'down', '--purge', '--dir', dir).catch(() => undefined);
    });

    test('cluster.json is private and holds no password in the printed output', async () => {
      assert.equal(statSync(join(dir, 'cluster.json')).mode & 0o777, 0o600);
      assert.equal(cluster.flavor, flavor);
      assert.equal(cluster.pods.length, 3);
      const { stdout } = await cli('sandbox', 'status', '--dir', dir);
      for (const secret of [cluster.app.password, cluster.admin.password]) assert.ok(!stdout.includes(secret));
    });

    test('a row written through the write port is read back through the read port', async () => {
      await through(cluster, 'write', 'CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, note VARCHAR(64))');
      await through(cluster, 'write', 'INSERT INTO items VALUES (1, ?)', ['through haproxy']);
      const rows = await waitFor('row visible through the read port on every pod', async () => {
        for (let i = 0; i < 6; i++) {
          const { rows } = await through(cluster, 'read', 'SELECT note FROM items WHERE id = 1');
          if (rows.length !== 1) return undefined;
        }
        return (await through(cluster, 'read', 'SELECT note FROM items WHERE id = 1')).rows;
      });
      assert.equal(rows[0].note, 'through haproxy');
    });

    test('over 30 fresh connections to the read port, every pod answers at least once', async () => {
      const seen = new Set(await readServerIds(cluster, 30));
      const all = await Promise.all(cluster.pods.map((pod) => serverIdOf(cluster, pod.name)));
      assert.deepEqual([...seen].sort(), [...all].sort());
    });

    test('the write port only ever reaches the primary', async () => {
      const primaryId = await serverIdOf(cluster, 'mysql-ha-0');
      for (let i = 0; i < 20; i++) assert.equal((await through(cluster, 'write', 'SELECT 1')).serverId, primaryId);
    });

    test("a replica's mysqld killed: reads stop reaching it within the detection time and keep succeeding; restarted, it is back", async () => {
      const victim = 'mysql-ha-2';
      const victimId = await serverIdOf(cluster, victim);
      await cli('sandbox', 'kill', victim, '--dir', dir);
      const killedAt = Date.now();
      let failures = 0;
      while (Date.now() - killedAt < DETECTION_MS) {
        await through(cluster, 'read', 'SELECT 1').catch(() => failures++);
      }
      assert.equal(failures, 0, 'reads failed while HAProxy was detecting the dead replica');
      const after = await readServerIds(cluster, 20);
      assert.ok(!after.includes(victimId), `reads still reached ${victim} ${DETECTION_MS} ms after its mysqld was killed`);

      await cli('sandbox', 'start', victim, '--dir', dir);
      await waitFor(`${victim} back in the read rotation`, async () => (await readServerIds(cluster, 6)).includes(victimId));
    });

    test('a replica with broken replication leaves the read rotation', async () => {
      const victim = 'mysql-ha-1';
      const victimId = await serverIdOf(cluster, victim);
      const mysql = cluster.pods.find((pod) => pod.name === victim)!.mysql;
      // A careless local write on the replica, then the same key on the primary: the replica's SQL thread stops.
      await withConnection({ ...mysql, user: cluster.admin.user, password: cluster.admin.password }, async (connection) => {
        await connection.query('SET SESSION sql_log_bin = 0');
        if (flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = OFF');
        await connection.query('INSERT INTO app.items VALUES (2, ?)', ['local']);
        if (flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = ON');
      });
      await through(cluster, 'write', 'INSERT INTO items VALUES (2, ?)', ['primary']);
      await waitFor(`${victim} reports broken replication`, async () => (await agentStatus(cluster, victim)).replication?.sqlRunning === false);
      await new Promise((resolve) => setTimeout(resolve, DETECTION_MS));
      const ids = await readServerIds(cluster, 30);
      assert.ok(!ids.includes(victimId), `reads reached ${victim} while its replication was broken`);
      const primaryId = await serverIdOf(cluster, 'mysql-ha-0');
      for (let i = 0; i < 10; i++) assert.equal((await through(cluster, 'write', 'SELECT 1')).serverId, primaryId);

      // Repaired without binlogging the fix, then restarted: back in rotation.
      await withConnection({ ...mysql, user: cluster.admin.user, password: cluster.admin.password }, async (connection) => {
        await connection.query('SET SESSION sql_log_bin = 0');
        if (flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = OFF');
        await connection.query('DELETE FROM app.items WHERE id = 2');
        if (flavor === 'mysql') await connection.query('SET GLOBAL super_read_only = ON');
        await connection.query('START REPLICA');
      });
      await waitFor(`${victim} back in the read rotation`, async () => (await readServerIds(cluster, 6)).includes(victimId));
    });

    test("status --json gives every agent's /status", async () => {
      const { stdout } = await cli('status', '--dir', dir, '--json').catch((error: { stdout: string }) => error);
      const statuses = JSON.parse(stdout) as Array<{ pod: string }>;
      assert.deepEqual(
        statuses.map((status) => status.pod),
        ['mysql-ha-0', 'mysql-ha-1', 'mysql-ha-2'],
      );
    });

    test('sandbox down leaves no process running; up again reuses the data', async () => {
      const before = clusterFile(dir);
      await cli('sandbox', 'down', '--dir', dir);
      const pids = [before.haproxy.pid, ...before.pods.flatMap((pod) => [pod.pid.mysqld, pod.pid.agent])].filter((pid): pid is number => pid !== null);
      assert.ok(pids.length >= 6);
      for (const pid of pids) assert.equal(isRunning(pid), false, `process ${pid} still running after sandbox down`);

      await cli('sandbox', 'up', '--flavor', flavor, '--dir', dir);
      cluster = clusterFile(dir);
      const { rows } = await through(cluster, 'write', 'SELECT note FROM items WHERE id = 1');
      assert.equal(rows[0].note, 'through haproxy');
      await cli('sandbox', 'status', '--dir', dir); // exits non-zero unless every pod is healthy
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
          assert.equal(error.code, 1);
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
