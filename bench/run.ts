// npm run bench: bootstrap time, failover RTO, switchover gap, health-check cost, footprint and
// the data path's cost (HAProxy's hop, semi-sync's wait), measured on the sandbox with real servers, each next to a baseline taken in the same run.
// npm run bench runs it built into dist/, so the agents run the built JavaScript, as the image does.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { BUNDLE_DIR, BUNDLE_ENTRY, bundleAgent } from '../agent/containers/bundle.ts';
import { checkTimings, failureDetectionSeconds } from '../agent/haproxy/config.ts';
import { EVENT_LOOP_SAMPLING_MS } from '../agent/http/metrics.ts';
import type { Flavor } from '../agent/mysql/dialect/types.ts';
import { manifestLeaseTimings } from '../agent/pod/manifest-env.ts';
import { agentClientOf, agentUrl, podStatus } from '../agent/sandbox/agents.ts';
import { SandboxCluster } from '../agent/sandbox/cluster.ts';
import { ensurePrerequisites } from '../agent/sandbox/install.ts';
import { AGENT_NODE_OPTIONS, MYSQL_PORT, type SandboxPod } from '../agent/sandbox/pod.ts';
import { accepts, adminQuery, waitFor } from '../agent/sandbox/probes.ts';
import { runtimeFor } from '../agent/sandbox/runtime.ts';
import { WriteLoad } from '../test/support/write-load.ts';
import { containerBench, containerTable } from './containers.ts';
import { idleFootprint, log, memoryText, msText, requestSwitchover, tableRow as row, type Stats, scrape, stats, until } from './measure.ts';
import { dropTable, type Endpoint, prepareTable, runWorkload, type Workload, type WorkloadResult } from './sysbench.ts';

const { values } = parseArgs({
  options: {
    flavor: { type: 'string', default: 'all' },
    iterations: { type: 'string', default: '5' },
    smoke: { type: 'boolean', default: false },
    // Also at 5 and 7 pods: bootstrap, footprint, failovers and switchovers (3 pods: the main run).
    scaling: { type: 'boolean', default: false },
    // The 5- and 7-pod runs alone, without the 3-pod run.
    'only-scaling': { type: 'boolean', default: false },
    // Also a replica rebuilt with 2 GiB of data, against a file copy of its data directory.
    rebuild: { type: 'boolean', default: false },
    // Where the pods run: processes on loopback addresses, containers (bench/containers.ts), or both.
    runtime: { type: 'string', default: 'processes' },
  },
});
const flavors: Flavor[] = values.flavor === 'all' ? ['mysql', 'mariadb'] : [values.flavor as Flavor];
const iterations = values.smoke ? 1 : Number(values.iterations);
const idleSeconds = values.smoke ? 5 : 60;
const loadSeconds = values.smoke ? 3 : 10;
const PREFIX = '127.0.13.';
const LEASE_TTL_MS = 5000;
/** The data set a rebuild copies (the issue asks for at least 2 GB). */
const REBUILD_MIB = values.smoke ? 128 : 2048;

/** The agents run the image's bundle (one file, code split), as in a container, not the TypeScript build. */
const AGENT_ENTRY = resolve(BUNDLE_DIR, BUNDLE_ENTRY);
const RUNTIME = `processes (mysqld and the agent's bundle on loopback addresses, no containers), ${cpus().length} cores`;

function newCluster(flavor: Flavor, replicas = 3): SandboxCluster {
  const cluster = new SandboxCluster({
    flavor,
    replicas,
    dir: mkdtempSync(join(tmpdir(), `mysql-ha-bench-${flavor}-`)),
    runtime: runtimeFor(flavor),
    addressPrefix: PREFIX,
    // Back-to-back failovers are what is measured: the anti-flapping window (60 s by default) would hold the second one.
    env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0' },
  });
  for (const pod of cluster.pods) pod.spec.agentEntry = AGENT_ENTRY;
  return cluster;
}

/** Starts a prepared cluster's pods; returns when all mysqld accepted connections and when every replica replicated with 0 lag. */
async function bootstrapOnce(cluster: SandboxCluster): Promise<{ totalMs: number; mysqldUpMs: number }> {
  const started = Date.now();
  await cluster.startEtcd();
  for (const pod of cluster.pods) cluster.startPod(pod);
  await until('every mysqld accepting connections', async () =>
    (await Promise.all(cluster.pods.map((pod) => accepts(pod.spec.address, MYSQL_PORT)))).every(Boolean) ? true : undefined,
  );
  const mysqldUp = Date.now();
  await until('every replica replicating with 0 lag', async () => {
    const statuses = await Promise.all(cluster.pods.map((pod) => podStatus(pod)));
    const primaries = statuses.filter((status) => status?.role === 'primary' && status.healthy);
    const replicas = statuses.filter((status) => status?.role === 'replica' && status.healthy && status.replication?.lagSeconds === 0);
    return primaries.length === 1 && replicas.length === cluster.pods.length - 1 ? true : undefined;
  });
  return { totalMs: Date.now() - started, mysqldUpMs: mysqldUp - started };
}

/** From starting 3 prepared pods to every replica replicating with 0 lag; baseline: all mysqld accepting connections. */
async function bootstrap(flavor: Flavor) {
  const total: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const cluster = newCluster(flavor);
    await cluster.checkAddressesFree(false);
    await cluster.prepare();
    try {
      const { totalMs, mysqldUpMs } = await bootstrapOnce(cluster);
      total.push(totalMs);
      baseline.push(mysqldUpMs);
      log(`${flavor} bootstrap ${i + 1}/${iterations}: ${totalMs} ms (mysqld up after ${mysqldUpMs} ms)`);
    } finally {
      await cluster.down(true);
    }
  }
  const overhead = total.map((t, i) => t - baseline[i]!);
  return { totalMs: stats(total), baselineMysqldUpMs: stats(baseline), agentOverheadMs: stats(overhead) };
}

type BootstrapResult = Awaited<ReturnType<typeof bootstrap>>;

/** A prepared cluster bootstrapped, then serving through HAProxy with the write load's table; returns the bootstrap's times. */
async function startServing(cluster: SandboxCluster): Promise<{ totalMs: number; mysqldUpMs: number }> {
  const bootstrapped = await bootstrapOnce(cluster);
  await cluster.startHaproxy();
  await cluster.waitHealthy(120_000);
  await cluster.waitHaproxySettled(30_000);
  await WriteLoad.prepare(writeTarget(cluster));
  return bootstrapped;
}

function writeTarget(cluster: SandboxCluster) {
  const described = cluster.describe();
  return { ...described.haproxy.write, user: described.app.user, password: described.app.password, database: described.app.database };
}

/** How many times this pod's agent has cloned the primary over its own data (its log says so). */
function clonesBy(pod: SandboxPod): number {
  return readFileSync(pod.paths.agentLog, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"state":"replica-rebuilding"')).length;
}

/** '' once the old primary is a healthy replica again, or the reason its agent keeps it out. */
function rejoinOutcome(old: SandboxPod): Promise<string> {
  return until(`${old.name} rejoined or refused`, async () => {
    const status = await podStatus(old);
    if (status?.decision?.state === 'replica-errant') return status.decision.reason;
    return status?.healthy && status.role === 'replica' ? '' : undefined;
  });
}

/** Back to three healthy pods: the old primary must rejoin by itself. Returns whether it cloned the primary first (MySQL). */
async function heal(cluster: SandboxCluster, old: SandboxPod, clonesBefore: number): Promise<boolean> {
  const refused = await rejoinOutcome(old);
  if (refused) throw new Error(`${old.name} did not rejoin by itself: ${refused}`);
  await cluster.waitHealthy(120_000);
  await cluster.waitHaproxySettled(30_000);
  return clonesBy(old) > clonesBefore;
}

/** One event under a 4-writer load through HAProxy: recovery time, write gap, acknowledged writes lost. */
async function underLoad(cluster: SandboxCluster, event: (primary: SandboxPod) => Promise<void>) {
  const old = await cluster.primary();
  const clonesBefore = clonesBy(old);
  const serverId = Number((await adminQuery<{ serverId: number }>(old, 'SELECT @@server_id AS serverId'))[0]!.serverId);
  const load = new WriteLoad(writeTarget(cluster), 4);
  let eventAt: number;
  let firstNew: number;
  try {
    await until('writes before the event', async () => (load.acked.length > 50 ? true : undefined));
    eventAt = Date.now();
    await event(old);
    firstNew = await until('a write on the new primary', async () => load.firstAckElsewhere(eventAt, serverId) ?? undefined);
    await sleep(500);
  } finally {
    await load.stop();
  }
  const primary = await cluster.primary();
  const present = new Set((await adminQuery<{ id: number }>(primary, 'SELECT id FROM app.acked_writes')).map((row) => Number(row.id)));
  const lost = load.acked.filter((id) => !present.has(id)).length;
  return { old, clonesBefore, recoveryMs: firstNew - eventAt, gapMs: firstNew - (load.lastAckBy(serverId) ?? eventAt), lost };
}

interface FailoverSamples {
  rto: number[];
  lost: number;
  /** Rounds in which the old primary cloned the new one before it rejoined (MySQL). */
  cloned: number;
}

const noSamples = (): FailoverSamples => ({ rto: [], lost: 0, cloned: 0 });

/** One failover under load: `kill` the primary, `restart` what was killed, record it in `samples` once the old primary has rejoined. */
async function failoverRound(
  cluster: SandboxCluster,
  samples: FailoverSamples,
  kill: (primary: SandboxPod) => Promise<void>,
  restart: (old: SandboxPod) => void,
) {
  const outcome = await underLoad(cluster, kill);
  restart(outcome.old);
  samples.rto.push(outcome.recoveryMs);
  samples.lost += outcome.lost;
  if (await heal(cluster, outcome.old, outcome.clonesBefore)) samples.cloned++;
  return outcome;
}

/** The whole primary pod lost (agent and mysqld SIGKILLed, as a node lost): its lease must expire. It is started again as its StatefulSet would. */
const podKillRound = (cluster: SandboxCluster, samples: FailoverSamples) =>
  failoverRound(
    cluster,
    samples,
    async (primary) => {
      await Promise.all([primary.stopAgent('SIGKILL'), primary.stopMysqld('SIGKILL')]);
    },
    (old) => cluster.startPod(old),
  );

/** A rolling restart of the agents with `env` changed (undefined: removed), one at a time as a rolling update: each stopping primary hands its lease over. */
async function restartAgents(cluster: SandboxCluster, env: Record<string, string | undefined>): Promise<void> {
  for (const pod of cluster.pods) {
    await pod.stopAgent('SIGTERM');
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete pod.spec.env[name];
      else pod.spec.env[name] = value;
    }
    pod.startAgent();
    await cluster.primary(60_000);
  }
  await cluster.waitHealthy(120_000);
  await cluster.waitHaproxySettled(30_000);
}

/**
 * Whole-pod kills again with the manifests' lease timings (a 15 s TTL, longer for API-server
 * safety): the write gap should stay within TTL + 0.5 s at any TTL. The defaults are restored after.
 */
async function podKillsWithManifestTimings(cluster: SandboxCluster, flavor: Flavor) {
  const timings = manifestLeaseTimings();
  await restartAgents(cluster, timings);
  const podKill = noSamples();
  for (let i = 0; i < iterations; i++) {
    const kill = await podKillRound(cluster, podKill);
    log(`${flavor} pod kill, TTL ${timings.MYSQL_HA_LEASE_TTL_MS} ms, ${i + 1}/${iterations}: ${kill.recoveryMs} ms, ${kill.lost} acknowledged writes lost`);
  }
  await restartAgents(cluster, Object.fromEntries(Object.keys(timings).map((name) => [name, undefined])));
  return { rtoMs: stats(podKill.rto), leaseTtlMs: Number(timings.MYSQL_HA_LEASE_TTL_MS), acknowledgedWritesLost: podKill.lost };
}

async function failovers(cluster: SandboxCluster, flavor: Flavor) {
  const rounds = iterations;
  const mysqldKill = noSamples();
  const podKill = noSamples();
  const switchover = { gap: [] as number[], lost: 0, refused: [] as string[] };
  for (let i = 0; i < rounds; i++) {
    const a = await failoverRound(
      cluster,
      mysqldKill,
      (primary) => primary.stopMysqld('SIGKILL'),
      (old) => old.startMysqld(),
    );
    log(`${flavor} mysqld SIGKILL ${i + 1}/${rounds}: ${a.recoveryMs} ms, ${a.lost} acknowledged writes lost`);

    const b = await podKillRound(cluster, podKill);
    log(`${flavor} pod kill ${i + 1}/${rounds}: ${b.recoveryMs} ms, ${b.lost} acknowledged writes lost`);

    const token = cluster.describe().switchoverToken;
    try {
      const c = await underLoad(cluster, (primary) => requestSwitchover(primary, token));
      switchover.gap.push(c.gapMs);
      switchover.lost += c.lost;
      await heal(cluster, c.old, c.clonesBefore);
      log(`${flavor} switchover ${i + 1}/${rounds}: write gap ${c.gapMs} ms, ${c.lost} acknowledged writes lost`);
    } catch (error) {
      // Counted and reported, not hidden: a refused switchover leaves the primary serving.
      switchover.refused.push((error as Error).message);
      log(`${flavor} switchover ${i + 1}/${rounds}: ${(error as Error).message}`);
      await cluster.waitHealthy(120_000);
    }
  }
  return {
    mysqldSigkill: {
      rtoMs: stats(mysqldKill.rto),
      baselineDetectionFloorMs: failureDetectionSeconds(checkTimings.write) * 1000,
      acknowledgedWritesLost: mysqldKill.lost,
      oldPrimaryCloned: mysqldKill.cloned,
    },
    podKill: { rtoMs: stats(podKill.rto), baselineLeaseTtlMs: LEASE_TTL_MS, acknowledgedWritesLost: podKill.lost, oldPrimaryCloned: podKill.cloned },
    switchover: { writeGapMs: stats(switchover.gap), acknowledgedWritesLost: switchover.lost, refused: switchover.refused },
  };
}

/**
 * mysqld SIGKILL again with MYSQL_HA_LOSSLESS=off: commits return without waiting for a replica,
 * so acknowledged writes can be lost; they are counted. An old primary that comes back holding
 * writes the new primary lacks is kept out (errant) and rebuilt as documented: empty data dir.
 */
async function asyncFailovers(cluster: SandboxCluster, flavor: Flavor) {
  await restartAgents(cluster, { MYSQL_HA_LOSSLESS: 'off' });
  const rto: number[] = [];
  let lost = 0;
  let keptOut = 0;
  for (let i = 0; i < iterations; i++) {
    const a = await underLoad(cluster, (primary) => primary.stopMysqld('SIGKILL'));
    a.old.startMysqld();
    rto.push(a.recoveryMs);
    lost += a.lost;
    if (await rejoinOutcome(a.old)) {
      keptOut++;
      await a.old.rebuild();
    }
    await cluster.waitHealthy(120_000);
    await cluster.waitHaproxySettled(30_000);
    log(`${flavor} asynchronous mysqld SIGKILL ${i + 1}/${iterations}: ${a.recoveryMs} ms, ${a.lost} acknowledged writes lost`);
  }
  return { rtoMs: stats(rto), acknowledgedWritesLost: lost, oldPrimaryKeptOutAsErrant: keptOut };
}

async function questions(pod: SandboxPod): Promise<number> {
  const [row] = await adminQuery<{ Value: string }>(pod, "SHOW GLOBAL STATUS LIKE 'Questions'");
  return Number(row!.Value);
}

const HEALTH_PATHS = ['/health', '/replica?lag=5'] as const;
type HealthPath = (typeof HEALTH_PATHS)[number];

interface HealthCheckResult {
  requestsPerSecond: number;
  /** The agent's own event-loop delay over the load (nodejs_eventloop_lag_*: since the previous scrape). */
  eventLoopDelayMs: { p99: number; max: number };
  latencyMs: { p50: number; p99: number };
  non2xx: number;
  mysqldStatementsMeanwhile: number;
  baselineIdleStatements: number;
  statementsPerRequest: number;
}

/** The agent's event-loop delay p99 and maximum since its previous /metrics scrape, beyond the sampling interval Node counts in each sample. */
async function eventLoopDelayMs(pod: SandboxPod): Promise<{ p99: number; max: number }> {
  const seconds = await scrape(pod);
  const ms = (value: number) => Math.round((value * 1000 - EVENT_LOOP_SAMPLING_MS) * 10) / 10;
  return { p99: ms(seconds('nodejs_eventloop_lag_p99_seconds')), max: ms(seconds('nodejs_eventloop_lag_max_seconds')) };
}

/** The check load: 2,000 requests/s from 10 connections, after a warm-up at the same rate (JIT, connection set-up) that is not measured. */
async function checkLoad(url: string) {
  await autocannon({ url, connections: 10, duration: 2, overallRate: 2000 });
  return autocannon({ url, connections: 10, duration: loadSeconds, overallRate: 2000 });
}

/**
 * The same load against a bare Node.js HTTPS server (the pod's certificate, the agent's Node
 * options) that answers 200 at once, beside the cluster: the latency floor on this machine.
 */
async function bareHttpsServerLatency(pod: SandboxPod): Promise<{ p50: number; p99: number }> {
  const address = `${PREFIX}250`;
  const server = [
    "const fs = require('node:fs');",
    'const options = { cert: fs.readFileSync(process.argv[1]), key: fs.readFileSync(process.argv[2]) };',
    "require('node:https').createServer(options, (request, response) => response.end('ok')).listen(8080, process.argv[3], () => process.send('listening'));",
  ].join(' ');
  const child = spawn(process.execPath, ['-e', server, join(pod.paths.tls, 'tls.crt'), join(pod.paths.tls, 'tls.key'), address], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NODE_OPTIONS: AGENT_NODE_OPTIONS },
  });
  try {
    await once(child, 'message');
    const result = await checkLoad(`https://${address}:8080/health`);
    return { p50: result.latency.p50, p99: result.latency.p99 };
  } finally {
    child.kill();
  }
}

/** /health and /replica at 2,000 requests/s against one agent; mysqld statements counted meanwhile against an idle baseline. */
async function healthChecks(
  cluster: SandboxCluster,
): Promise<{ paths: Record<HealthPath, HealthCheckResult>; baselineBareServerMs: { p50: number; p99: number } }> {
  const roles = await Promise.all(cluster.pods.map(async (candidate) => (await podStatus(candidate))?.role));
  const pod = cluster.pods[roles.indexOf('replica')]!;
  const idleStart = await questions(pod);
  await sleep(loadSeconds * 1000);
  // Our own SHOW STATUS counts as one statement.
  const idlePerSecond = ((await questions(pod)) - idleStart - 1) / loadSeconds;
  const results = {} as Record<HealthPath, HealthCheckResult>;
  for (const path of HEALTH_PATHS) {
    // Over HTTPS as in the sandbox (autocannon does not verify the certificate; the load is the same).
    const before = await questions(pod);
    // A scrape resets the agent's event-loop delay histogram: the next one covers the load alone.
    await eventLoopDelayMs(pod);
    const result = await checkLoad(`${agentUrl(pod)}${path}`);
    const delay = await eventLoopDelayMs(pod);
    const statements = (await questions(pod)) - before - 1;
    const requests = result.requests.total;
    results[path] = {
      requestsPerSecond: result.requests.average,
      eventLoopDelayMs: delay,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
      non2xx: result.non2xx,
      mysqldStatementsMeanwhile: statements,
      baselineIdleStatements: Math.round(idlePerSecond * result.duration),
      statementsPerRequest: Math.max(0, statements - idlePerSecond * result.duration) / requests,
    };
  }
  return { paths: results, baselineBareServerMs: await bareHttpsServerLatency(pod) };
}

/** The data path's workload: short write transactions from several connections. */
const WORKLOAD: Workload = { threads: 4, seconds: loadSeconds };

interface PathResult {
  transactionsPerSecond: Stats;
  p99Ms: Stats;
  errors: number;
}

const pathResult = (runs: WorkloadResult[]): PathResult => ({
  transactionsPerSecond: stats(runs.map((r) => r.transactionsPerSecond)),
  p99Ms: stats(runs.map((r) => r.p99Ms)),
  errors: runs.reduce((sum, r) => sum + r.errors, 0),
});

/**
 * What the HA layer costs an application while nothing fails: the same workload straight to the
 * primary's mysqld and through HAProxy's write port, alternated `iterations` times. Run once with
 * lossless semi-sync and once in asynchronous mode, so both ratios come from one run.
 */
async function dataPath(cluster: SandboxCluster, mode: 'lossless' | 'asynchronous') {
  const primary = await cluster.primary();
  const semiSyncSource = (await podStatus(primary))?.semiSync?.source ?? null;
  const { app, haproxy, caFile } = cluster.describe();
  // The client presents a certificate of the cluster's CA (the primary pod's: this is a benchmark); the server asks for none.
  const tls = { caFile: caFile!, certFile: join(primary.paths.tls, 'tls.crt'), keyFile: join(primary.paths.tls, 'tls.key') };
  const account = { user: app.user, password: app.password, database: app.database, tls };
  const direct: Endpoint = { host: primary.spec.address, port: MYSQL_PORT, ...account };
  const throughHaproxy: Endpoint = { ...haproxy.write, ...account };
  const runs = { direct: [] as WorkloadResult[], haproxy: [] as WorkloadResult[] };
  await prepareTable(direct, WORKLOAD);
  try {
    for (let i = 0; i < iterations; i++) {
      runs.direct.push(await runWorkload(direct, WORKLOAD));
      runs.haproxy.push(await runWorkload(throughHaproxy, WORKLOAD));
      log(
        `data path (${mode}) ${i + 1}/${iterations}: direct ${runs.direct.at(-1)!.transactionsPerSecond} tx/s p99 ${runs.direct.at(-1)!.p99Ms} ms, ` +
          `HAProxy ${runs.haproxy.at(-1)!.transactionsPerSecond} tx/s p99 ${runs.haproxy.at(-1)!.p99Ms} ms`,
      );
    }
  } finally {
    await dropTable(direct, WORKLOAD);
  }
  return {
    mode,
    primary: primary.name,
    semiSyncSource,
    workload: { ...WORKLOAD, transaction: 'one INSERT, autocommit (sysbench oltp_insert)' },
    direct: pathResult(runs.direct),
    haproxy: pathResult(runs.haproxy),
  };
}

type DataPathResult = Awaited<ReturnType<typeof dataPath>>;

/** Until every replica is healthy at 0 s of lag. */
function untilCaughtUp(cluster: SandboxCluster): Promise<true> {
  return until('every replica caught up', async () => {
    const statuses = await Promise.all(cluster.pods.map((pod) => podStatus(pod)));
    const replicas = statuses.filter((status) => status?.role === 'replica');
    return replicas.length === cluster.pods.length - 1 && replicas.every((status) => status?.healthy && status.replication?.lagSeconds === 0)
      ? true
      : undefined;
  });
}

/** Each agent's RSS and CPU while the cluster idles; baseline: a bare Node.js process idling as long. */
async function footprint(cluster: SandboxCluster) {
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: AGENT_NODE_OPTIONS } });
  await sleep(500);
  try {
    const processes = await idleFootprint(
      [...cluster.pods.map((pod) => ({ name: pod.name, pid: pod.agentPid!, agent: pod })), { name: 'baseline: bare node', pid: bare.pid! }],
      idleSeconds,
    );
    return { idleSeconds, processes };
  } finally {
    bare.kill();
  }
}

type Footprint = Awaited<ReturnType<typeof footprint>>;

/** What one flavour's run measured: written as JSON to bench/results/, summed up by table(). */
interface BenchResults {
  flavor: Flavor;
  iterations: number;
  machine: { cpus: number; node: string };
  /** Where the pods ran: processes on loopback addresses (the sandbox's default runtime), the agents from the image's bundle. */
  runtime: string;
  bootstrap: BootstrapResult;
  version: string;
  footprint: Footprint;
  /** The same with HAProxy stopped: what its health checks cost each agent. */
  footprintWithoutHaproxy: Footprint;
  healthChecks: Awaited<ReturnType<typeof healthChecks>>;
  failover: FailoverResult;
  manifestTtlPodKill: Awaited<ReturnType<typeof podKillsWithManifestTimings>>;
  asyncFailover: Awaited<ReturnType<typeof asyncFailovers>>;
  dataPath: { lossless: DataPathResult; asynchronous: DataPathResult };
  /** With --rebuild. */
  rebuild?: Awaited<ReturnType<typeof rebuild>>;
  /** With --scaling. */
  scaling?: Awaited<ReturnType<typeof scaling>>;
}

type FailoverResult = Awaited<ReturnType<typeof failovers>>;

/** Rows of 1 MiB, written 64 MiB per transaction (nothing on the copy's path compresses: InnoDB's default row format, clone, mbstream). MD5() is gone in MySQL 9.7. */
const BULK_ROW = 'REPEAT(SHA2(RAND(), 256), 16384)';
const BULK_BATCH_ROWS = 64;

/** Fills app.bulk on the primary until it holds `mib` MiB, in 64 MiB transactions; returns once every replica caught up. */
async function loadBulk(cluster: SandboxCluster, mib: number): Promise<void> {
  const primary = await cluster.primary();
  await adminQuery(primary, 'CREATE TABLE app.bulk_batch (n INT PRIMARY KEY)');
  await adminQuery(primary, `INSERT INTO app.bulk_batch VALUES ${Array.from({ length: BULK_BATCH_ROWS }, (_, i) => `(${i})`).join(', ')}`);
  await adminQuery(primary, 'CREATE TABLE app.bulk (id INT AUTO_INCREMENT PRIMARY KEY, pad LONGTEXT NOT NULL)');
  for (let done = 0; done < mib; done += BULK_BATCH_ROWS) {
    await adminQuery(primary, `INSERT INTO app.bulk (pad) SELECT ${BULK_ROW} FROM app.bulk_batch`);
  }
  await untilCaughtUp(cluster);
}

/** Bytes under a directory, as du counts them (allocated blocks). */
function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/** Writes dirty pages out and empties the page cache, so each copy reads from the disk. */
function coldCache(): void {
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/**
 * Rebuild speed with a data set of REBUILD_MIB: one replica re-initialised from the other (MySQL:
 * the clone plugin; MariaDB: mariadb-backup streamed between the agents), from the request to a
 * healthy replica at 0 s of lag, against `cp -a` of the donor's data directory on the same disk.
 */
async function rebuild(cluster: SandboxCluster, flavor: Flavor) {
  log(`${flavor}: rebuild: loading ${REBUILD_MIB} MiB`);
  await loadBulk(cluster, REBUILD_MIB);
  const statuses = await Promise.all(cluster.pods.map(async (pod) => ({ pod, status: await podStatus(pod) })));
  const [recipient, donor] = statuses.filter(({ status }) => status?.role === 'replica').map(({ pod }) => pod);
  const bytes = diskBytes(donor!.paths.data);
  const copyDir = join(cluster.dir, 'file-copy');
  coldCache();
  const copyStarted = Date.now();
  execFileSync('cp', ['-a', donor!.paths.data, copyDir]);
  execFileSync('sync');
  const copyMs = Date.now() - copyStarted;
  rmSync(copyDir, { recursive: true, force: true });
  coldCache();
  const token = cluster.describe().switchoverToken;
  const started = Date.now();
  const response = await agentClientOf(recipient!).request(`${agentUrl(recipient!)}/reinit`, {
    method: 'POST',
    token,
    body: { donor: donor!.name },
    timeoutMs: 30_000,
  });
  if (response.status !== 200) throw new Error(`reinit refused (HTTP ${response.status}): ${await response.text()}`);
  await until(`${recipient!.name} copying`, async () => ((await podStatus(recipient!))?.decision?.state === 'replica-rebuilding' ? true : undefined));
  await waitFor(
    `${recipient!.name} rebuilt and caught up`,
    async () => {
      const status = await podStatus(recipient!);
      return status?.healthy && status.role === 'replica' && status.replication?.lagSeconds === 0 ? true : undefined;
    },
    30 * 60_000,
    { intervalMs: 250 },
  );
  const rebuildMs = Date.now() - started;
  const mbPerSecond = (ms: number) => Math.round(bytes / 1e6 / (ms / 1000));
  log(
    `${flavor}: rebuild of ${Math.round(bytes / 1e6)} MB: ${rebuildMs} ms (${mbPerSecond(rebuildMs)} MB/s); cp -a ${copyMs} ms (${mbPerSecond(copyMs)} MB/s)`,
  );
  return {
    dataDirMB: Math.round(bytes / 1e6),
    method: flavor === 'mysql' ? 'clone plugin' : 'mariadb-backup streamed between agents',
    rebuildMs,
    rebuildMBPerSecond: mbPerSecond(rebuildMs),
    baselineFileCopyMs: copyMs,
    baselineFileCopyMBPerSecond: mbPerSecond(copyMs),
  };
}

async function benchFlavor(flavor: Flavor): Promise<BenchResults> {
  log(`${flavor}: bootstrap × ${iterations}`);
  const bootstrapped = await bootstrap(flavor);
  const cluster = newCluster(flavor);
  await cluster.checkAddressesFree(true);
  await cluster.prepare();
  try {
    await startServing(cluster);
    const version = (await adminQuery<{ version: string }>(cluster.pods[0]!, 'SELECT VERSION() AS version'))[0]!.version;
    log(`${flavor}: footprint over ${idleSeconds} s idle, with HAProxy checking the agents and without`);
    const idle = await footprint(cluster);
    await cluster.stopHaproxy();
    const idleUnchecked = await footprint(cluster);
    await cluster.startHaproxy();
    await cluster.waitHaproxySettled(30_000);
    log(`${flavor}: health checks`);
    const checks = await healthChecks(cluster);
    log(`${flavor}: the data path, lossless: ${WORKLOAD.threads} writers direct and through HAProxy × ${iterations}`);
    const losslessPath = await dataPath(cluster, 'lossless');
    // The workload leaves replicas applying a backlog; a failover now would time their catching up.
    await untilCaughtUp(cluster);
    log(`${flavor}: failovers and switchovers × ${iterations}`);
    const failover = await failovers(cluster, flavor);
    log(`${flavor}: whole pod killed with the manifests' lease timings × ${iterations}`);
    const manifestTtlPodKill = await podKillsWithManifestTimings(cluster, flavor);
    log(`${flavor}: asynchronous mode (MYSQL_HA_LOSSLESS=off), mysqld SIGKILL × ${iterations}`);
    const asyncFailover = await asyncFailovers(cluster, flavor);
    log(`${flavor}: the data path, asynchronous × ${iterations}`);
    const asyncPath = await dataPath(cluster, 'asynchronous');
    const rebuilt = values.rebuild ? await rebuild(cluster, flavor) : undefined;
    // The JSON's keys in this order, as before.
    return {
      flavor,
      iterations,
      machine,
      runtime: RUNTIME,
      bootstrap: bootstrapped,
      version,
      footprint: idle,
      footprintWithoutHaproxy: idleUnchecked,
      healthChecks: checks,
      failover,
      manifestTtlPodKill,
      asyncFailover,
      dataPath: { lossless: losslessPath, asynchronous: asyncPath },
      ...(rebuilt ? { rebuild: rebuilt } : {}),
    };
  } finally {
    // KEEP_BENCH_DATA=1 keeps the pods' logs of a failed run.
    await cluster.down(!process.env.KEEP_BENCH_DATA);
  }
}

/** The data path's figures and the two ratios: HAProxy's hop (HAProxy ÷ direct) and lossless semi-sync's wait (lossless ÷ asynchronous, direct). */
function dataPathRows(paths: BenchResults['dataPath']): string[] {
  const figures = (path: PathResult) =>
    `${Math.round(path.transactionsPerSecond.median)} tx/s, p99 ${path.p99Ms.median} ms${path.errors > 0 ? ` (${path.errors} errors)` : ''}`;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const rows: string[] = [];
  for (const path of [paths.lossless, paths.asynchronous]) {
    const semiSync = `semi-sync source ${path.semiSyncSource ? 'on' : 'off'}`;
    rows.push(
      row(`data path, ${path.mode} (${semiSync}): through HAProxy`, figures(path.haproxy), `direct to mysqld: ${figures(path.direct)}`, 'report it'),
      row(
        `data path, ${path.mode}: HAProxy ÷ direct`,
        `throughput ×${ratio(path.haproxy.transactionsPerSecond.median, path.direct.transactionsPerSecond.median)}, ` +
          `p99 ×${ratio(path.haproxy.p99Ms.median, path.direct.p99Ms.median)}`,
        '',
        'report it',
      ),
    );
  }
  rows.push(
    row(
      'data path: lossless ÷ asynchronous (direct)',
      `throughput ×${ratio(paths.lossless.direct.transactionsPerSecond.median, paths.asynchronous.direct.transactionsPerSecond.median)}, ` +
        `p99 ×${ratio(paths.lossless.direct.p99Ms.median, paths.asynchronous.direct.p99Ms.median)}`,
      '',
      'report it',
    ),
  );
  return rows;
}

function table(results: BenchResults): string {
  const f = results.failover;
  const asyncMode = results.asyncFailover;
  return [
    `### ${results.flavor} ${results.version} (${results.iterations} runs, median / p95; ${results.runtime})`,
    '',
    '| What | Measured | Baseline (same run) | Target |',
    '| --- | --- | --- | --- |',
    row(
      'bootstrap: 3 fresh pods to replicas at 0 lag',
      msText(results.bootstrap.totalMs),
      `mysqld accepting: ${msText(results.bootstrap.baselineMysqldUpMs)}`,
      '≤ 15 s',
    ),
    row('bootstrap: agent overhead', msText(results.bootstrap.agentOverheadMs), '', '≤ 1 s'),
    row('failover RTO, mysqld SIGKILL', msText(f.mysqldSigkill.rtoMs), `HAProxy detection time ${f.mysqldSigkill.baselineDetectionFloorMs} ms`, 'median ≤ 1 s'),
    row(
      'acknowledged writes lost (mysqld SIGKILL)',
      `${f.mysqldSigkill.acknowledgedWritesLost} (old primary rejoined every time, after cloning ${f.mysqldSigkill.oldPrimaryCloned}×)`,
      '',
      '0',
    ),
    row('failover RTO, whole pod killed', msText(f.podKill.rtoMs), `lease TTL ${f.podKill.baselineLeaseTtlMs} ms`, 'median ≤ TTL + 0.5 s'),
    row(
      'acknowledged writes lost (pod kill)',
      `${f.podKill.acknowledgedWritesLost} (old primary rejoined every time, after cloning ${f.podKill.oldPrimaryCloned}×)`,
      '',
      '0',
    ),
    row(
      "failover RTO, whole pod killed, the manifests' lease timings",
      `${msText(results.manifestTtlPodKill.rtoMs)}; ${results.manifestTtlPodKill.acknowledgedWritesLost} acknowledged writes lost`,
      `lease TTL ${results.manifestTtlPodKill.leaseTtlMs} ms`,
      'median ≤ TTL + 0.5 s',
    ),
    row('planned switchover write gap', msText(f.switchover.writeGapMs), '', 'median ≤ 0.5 s'),
    row('acknowledged writes lost (switchover)', `${f.switchover.acknowledgedWritesLost}; switchovers refused: ${f.switchover.refused.length}`, '', '0'),
    row('asynchronous mode: failover RTO, mysqld SIGKILL', msText(asyncMode.rtoMs), '', ''),
    row(
      'asynchronous mode: acknowledged writes lost',
      `${asyncMode.acknowledgedWritesLost} in ${asyncMode.rtoMs.n} failovers (old primary kept out as errant ${asyncMode.oldPrimaryKeptOutAsErrant}×, rebuilt)`,
      '',
      'report it',
    ),
    ...HEALTH_PATHS.map((path) => {
      const health = results.healthChecks.paths[path];
      const bare = results.healthChecks.baselineBareServerMs;
      return row(
        `${path} at 2,000 req/s`,
        `${Math.round(health.requestsPerSecond)} req/s, p50 ${health.latencyMs.p50} ms, p99 ${health.latencyMs.p99} ms, ` +
          `${health.statementsPerRequest.toFixed(4)} statements/request; the agent's event-loop delay p99 ${health.eventLoopDelayMs.p99} ms, max ${health.eventLoopDelayMs.max} ms`,
        `a bare Node.js HTTPS server: p50 ${bare.p50} ms, p99 ${bare.p99} ms; mysqld statements: ${health.mysqldStatementsMeanwhile} under load vs ${health.baselineIdleStatements} idle`,
        'p99 ≤ 2 ms, 0 statements/request',
      );
    }),
    ...dataPathRows(results.dataPath),
    ...results.footprint.processes.map((p, i) =>
      row(
        `footprint: ${p.process}`,
        `${memoryText(p)}, ` +
          `CPU ${p.cpuPercentOfACore} % of a core; without HAProxy's checks ${results.footprintWithoutHaproxy.processes[i]!.cpuPercentOfACore} %`,
        '',
        p.process.startsWith('baseline') ? '' : '≤ 60 MiB, ≤ 1 %',
      ),
    ),
    ...(results.rebuild
      ? [
          row(
            `rebuild of a replica, ${results.rebuild.dataDirMB} MB data directory (${results.rebuild.method})`,
            `${results.rebuild.rebuildMs} ms, ${results.rebuild.rebuildMBPerSecond} MB/s (to a healthy replica at 0 lag)`,
            `cp -a of the donor's data directory: ${results.rebuild.baselineFileCopyMs} ms, ${results.rebuild.baselineFileCopyMBPerSecond} MB/s`,
            'report it',
          ),
        ]
      : []),
    ...scalingRows(results.scaling ?? []),
  ].join('\n');
}

/** One row per cluster size of a --scaling run. */
function scalingRows(sizes: Awaited<ReturnType<typeof scaling>>): string[] {
  return sizes.map((size) => {
    const agents = size.footprint.processes.filter((p) => !p.process.startsWith('baseline'));
    return row(
      `${size.pods} pods`,
      `bootstrap ${size.bootstrap.totalMs} ms (agent overhead ${size.bootstrap.totalMs - size.bootstrap.mysqldUpMs} ms); ` +
        `RTO mysqld SIGKILL ${msText(size.failover.mysqldSigkill.rtoMs)}, pod kill ${msText(size.failover.podKill.rtoMs)}; ` +
        `switchover gap ${msText(size.failover.switchover.writeGapMs)}; lost ${lostIn(size.failover)}; ` +
        `agents' RSS ${Math.max(...agents.map((p) => p.rssMiB))} MiB and CPU ${Math.max(...agents.map((p) => p.cpuPercentOfACore))} % at most`,
      '3 pods: the 3-pod run',
      'report it',
    );
  });
}

const lostIn = (f: FailoverResult) => f.mysqldSigkill.acknowledgedWritesLost + f.podKill.acknowledgedWritesLost + f.switchover.acknowledgedWritesLost;

/** How the cost grows with the cluster: bootstrap, idle footprint, failovers and switchovers at 5 and 7 pods. */
async function scaling(flavor: Flavor) {
  const sizes = [];
  for (const pods of [5, 7]) {
    log(`${flavor}: ${pods} pods: bootstrap, footprint over ${idleSeconds} s idle, failovers and switchovers × ${iterations}`);
    const cluster = newCluster(flavor, pods);
    await cluster.checkAddressesFree(true);
    await cluster.prepare();
    try {
      const bootstrapped = await startServing(cluster);
      const idle = await footprint(cluster);
      const failover = await failovers(cluster, flavor);
      sizes.push({ pods, bootstrap: bootstrapped, footprint: idle, failover });
    } finally {
      await cluster.down(!process.env.KEEP_BENCH_DATA);
    }
  }
  return sizes;
}

const runtimes = values.runtime === 'both' ? ['processes', 'containers'] : [values.runtime];
if (!runtimes.every((runtime) => runtime === 'processes' || runtime === 'containers')) {
  throw new Error(`--runtime ${values.runtime}: expected processes, containers or both`);
}
await ensurePrerequisites({ flavors, haproxy: true, etcd: true, loadGenerator: true }, log);
log(`bundling the agent as its image does (${BUNDLE_DIR}/${BUNDLE_ENTRY})`);
await bundleAgent();
// Run from the package root (npm run bench), which runs this file built into dist/.
const resultsDir = join(process.cwd(), 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const machine = { cpus: cpus().length, node: process.version };
const resultsFile = (flavor: Flavor, part: '' | 'containers' | 'scaling') =>
  join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${flavor}${part ? `-${part}` : ''}${values.smoke ? '-smoke' : ''}.json`);
for (const flavor of flavors) {
  if (runtimes.includes('processes') && values['only-scaling']) {
    const results = { flavor, rounds: iterations, machine, runtime: RUNTIME, scaling: await scaling(flavor) };
    const file = resultsFile(flavor, 'scaling');
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    const heading = `### ${flavor} at 5 and 7 pods (${iterations} rounds, median / p95; ${RUNTIME})`;
    process.stdout.write(
      `${[heading, '', '| What | Measured | Baseline | Target |', '| --- | --- | --- | --- |', ...scalingRows(results.scaling)].join('\n')}\n\n(${file})\n\n`,
    );
  } else if (runtimes.includes('processes')) {
    const results: BenchResults = await benchFlavor(flavor);
    if (values.scaling) results.scaling = await scaling(flavor);
    const file = resultsFile(flavor, '');
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${table(results)}\n\n(${file})\n\n`);
  }
  if (runtimes.includes('containers')) {
    const results = { flavor, iterations, machine, ...(await containerBench(flavor, { iterations, idleSeconds })) };
    const file = resultsFile(flavor, 'containers');
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${containerTable(results)}\n\n(${file})\n\n`);
  }
}
