// npm run bench: bootstrap time, failover RTO, switchover gap, health-check cost and footprint,
// measured on the sandbox with real servers, each next to a baseline taken in the same run.
// npm run bench runs it built into dist/, so the agents run the built JavaScript, as the image does.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { checkTimings, failureDetectionSeconds } from '../agent/haproxy/config.ts';
import type { Flavor } from '../agent/mysql/dialect/types.ts';
import { agentClientOf, agentUrl, podStatus } from '../agent/sandbox/agents.ts';
import { SandboxCluster } from '../agent/sandbox/cluster.ts';
import { ensurePrerequisites } from '../agent/sandbox/install.ts';
import { MYSQL_PORT, type SandboxPod } from '../agent/sandbox/pod.ts';
import { accepts, adminQuery, waitFor } from '../agent/sandbox/probes.ts';
import { runtimeFor } from '../agent/sandbox/runtime.ts';
import { WriteLoad } from '../test/support/write-load.ts';

const { values } = parseArgs({
  options: {
    flavor: { type: 'string', default: 'all' },
    iterations: { type: 'string', default: '5' },
    smoke: { type: 'boolean', default: false },
  },
});
const flavors: Flavor[] = values.flavor === 'all' ? ['mysql', 'mariadb'] : [values.flavor as Flavor];
const iterations = values.smoke ? 1 : Number(values.iterations);
const idleSeconds = values.smoke ? 5 : 60;
const loadSeconds = values.smoke ? 3 : 10;
const PREFIX = '127.0.13.';
const LEASE_TTL_MS = 5000;

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface Stats {
  median: number;
  p95: number;
  n: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { median: at(0.5), p95: at(0.95), n: sorted.length };
}

/** Polls every 50 ms (the measured times are only as fine as this), for up to 2 minutes. */
const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => waitFor(what, probe, 120_000, { intervalMs: 50 });

function newCluster(flavor: Flavor): SandboxCluster {
  return new SandboxCluster({
    flavor,
    replicas: 3,
    dir: mkdtempSync(join(tmpdir(), `mysql-ha-bench-${flavor}-`)),
    runtime: runtimeFor(flavor),
    addressPrefix: PREFIX,
    // Back-to-back failovers are what is measured: the anti-flapping window (60 s by default) would hold the second one.
    env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0' },
  });
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
        return primaries.length === 1 && replicas.length === 2 ? true : undefined;
      });
      total.push(Date.now() - started);
      baseline.push(mysqldUp - started);
      log(`${flavor} bootstrap ${i + 1}/${iterations}: ${Date.now() - started} ms (mysqld up after ${mysqldUp - started} ms)`);
    } finally {
      await cluster.down(true);
    }
  }
  const overhead = total.map((t, i) => t - baseline[i]!);
  return { totalMs: stats(total), baselineMysqldUpMs: stats(baseline), agentOverheadMs: stats(overhead) };
}

type BootstrapResult = Awaited<ReturnType<typeof bootstrap>>;

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

async function failovers(cluster: SandboxCluster, flavor: Flavor) {
  const mysqldKill = { rto: [] as number[], lost: 0, cloned: 0 };
  const podKill = { rto: [] as number[], lost: 0, cloned: 0 };
  const switchover = { gap: [] as number[], lost: 0, refused: [] as string[] };
  for (let i = 0; i < iterations; i++) {
    const a = await underLoad(cluster, (primary) => primary.stopMysqld('SIGKILL'));
    a.old.startMysqld();
    mysqldKill.rto.push(a.recoveryMs);
    mysqldKill.lost += a.lost;
    if (await heal(cluster, a.old, a.clonesBefore)) mysqldKill.cloned++;
    log(`${flavor} mysqld SIGKILL ${i + 1}/${iterations}: ${a.recoveryMs} ms, ${a.lost} acknowledged writes lost`);

    const b = await underLoad(cluster, async (primary) => {
      await Promise.all([primary.stopAgent('SIGKILL'), primary.stopMysqld('SIGKILL')]);
    });
    cluster.startPod(b.old);
    podKill.rto.push(b.recoveryMs);
    podKill.lost += b.lost;
    if (await heal(cluster, b.old, b.clonesBefore)) podKill.cloned++;
    log(`${flavor} pod kill ${i + 1}/${iterations}: ${b.recoveryMs} ms, ${b.lost} acknowledged writes lost`);

    const token = cluster.describe().switchoverToken;
    try {
      const c = await underLoad(cluster, async (primary) => {
        const response = await agentClientOf(primary).request(`${agentUrl(primary)}/switchover`, { method: 'POST', token, body: {}, timeoutMs: 60_000 });
        if (response.status !== 200) throw new Error(`switchover refused (HTTP ${response.status}): ${await response.text()}`);
      });
      switchover.gap.push(c.gapMs);
      switchover.lost += c.lost;
      await heal(cluster, c.old, c.clonesBefore);
      log(`${flavor} switchover ${i + 1}/${iterations}: write gap ${c.gapMs} ms, ${c.lost} acknowledged writes lost`);
    } catch (error) {
      // Counted and reported, not hidden: a refused switchover leaves the primary serving.
      switchover.refused.push((error as Error).message);
      log(`${flavor} switchover ${i + 1}/${iterations}: ${(error as Error).message}`);
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
  for (const pod of cluster.pods) {
    await pod.stopAgent('SIGTERM');
    pod.spec.env.MYSQL_HA_LOSSLESS = 'off';
    pod.startAgent();
    // A stopping primary's agent hands its lease over: one restart at a time, as a rolling update.
    await cluster.primary(60_000);
  }
  await cluster.waitHealthy(120_000);
  await cluster.waitHaproxySettled(30_000);
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
  latencyMs: { p50: number; p99: number };
  non2xx: number;
  mysqldStatementsMeanwhile: number;
  baselineIdleStatements: number;
  statementsPerRequest: number;
}

/** /health and /replica at 2,000 requests/s against one agent; mysqld statements counted meanwhile against an idle baseline. */
async function healthChecks(cluster: SandboxCluster): Promise<Record<HealthPath, HealthCheckResult>> {
  const roles = await Promise.all(cluster.pods.map(async (candidate) => (await podStatus(candidate))?.role));
  const pod = cluster.pods[roles.indexOf('replica')]!;
  const idleStart = await questions(pod);
  await sleep(loadSeconds * 1000);
  // Our own SHOW STATUS counts as one statement.
  const idlePerSecond = ((await questions(pod)) - idleStart - 1) / loadSeconds;
  const results = {} as Record<HealthPath, HealthCheckResult>;
  for (const path of HEALTH_PATHS) {
    const url = `${agentUrl(pod)}${path}`;
    // Over HTTPS as in the sandbox (autocannon does not verify the certificate; the load is the same).
    // Warm-up at the same rate (JIT, connection set-up), not measured: the steady state is what HAProxy sees.
    await autocannon({ url, connections: 10, duration: 2, overallRate: 2000 });
    const before = await questions(pod);
    const result = await autocannon({ url, connections: 10, duration: loadSeconds, overallRate: 2000 });
    const statements = (await questions(pod)) - before - 1;
    const requests = result.requests.total;
    results[path] = {
      requestsPerSecond: result.requests.average,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
      non2xx: result.non2xx,
      mysqldStatementsMeanwhile: statements,
      baselineIdleStatements: Math.round(idlePerSecond * result.duration),
      statementsPerRequest: Math.max(0, statements - idlePerSecond * result.duration) / requests,
    };
  }
  return results;
}

function sampleProcess(pid: number): { rssMiB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMiB: rssKiB / 1024, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** Each agent's RSS and CPU while the cluster idles; baseline: a bare Node.js process idling as long. */
async function footprint(cluster: SandboxCluster) {
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(500);
  const pids = [...cluster.pods.map((pod) => ({ name: pod.name, pid: pod.agentPid! })), { name: 'baseline: bare node', pid: bare.pid! }];
  const first = pids.map(({ pid }) => sampleProcess(pid));
  const peak = first.map((sample) => sample.rssMiB);
  const started = Date.now();
  while (Date.now() - started < idleSeconds * 1000) {
    await sleep(1000);
    pids.forEach(({ pid }, i) => {
      peak[i] = Math.max(peak[i]!, sampleProcess(pid).rssMiB);
    });
  }
  const seconds = (Date.now() - started) / 1000;
  const result = pids.map(({ name, pid }, i) => ({
    process: name,
    rssMiB: Math.round(peak[i]! * 10) / 10,
    cpuPercentOfACore: Math.round(((sampleProcess(pid).cpuTicks - first[i]!.cpuTicks) / 100 / seconds) * 1000) / 10,
  }));
  bare.kill();
  return { idleSeconds, processes: result };
}

/** What one flavour's run measured: written as JSON to bench/results/, summed up by table(). */
interface BenchResults {
  flavor: Flavor;
  iterations: number;
  machine: { cpus: number; node: string };
  bootstrap: BootstrapResult;
  version: string;
  footprint: Awaited<ReturnType<typeof footprint>>;
  healthChecks: Record<HealthPath, HealthCheckResult>;
  failover: Awaited<ReturnType<typeof failovers>>;
  asyncFailover: Awaited<ReturnType<typeof asyncFailovers>>;
}

async function benchFlavor(flavor: Flavor): Promise<BenchResults> {
  log(`${flavor}: bootstrap × ${iterations}`);
  const machine = { cpus: cpus().length, node: process.version };
  const bootstrapped = await bootstrap(flavor);
  const cluster = newCluster(flavor);
  await cluster.checkAddressesFree(true);
  await cluster.prepare();
  try {
    await cluster.startEtcd();
    for (const pod of cluster.pods) cluster.startPod(pod);
    await cluster.startHaproxy();
    await cluster.waitHealthy(120_000);
    await cluster.waitHaproxySettled(30_000);
    const version = (await adminQuery<{ version: string }>(cluster.pods[0]!, 'SELECT VERSION() AS version'))[0]!.version;
    await WriteLoad.prepare(writeTarget(cluster));
    log(`${flavor}: footprint over ${idleSeconds} s idle`);
    const idle = await footprint(cluster);
    log(`${flavor}: health checks`);
    const checks = await healthChecks(cluster);
    log(`${flavor}: failovers and switchovers × ${iterations}`);
    const failover = await failovers(cluster, flavor);
    log(`${flavor}: asynchronous mode (MYSQL_HA_LOSSLESS=off), mysqld SIGKILL × ${iterations}`);
    const asyncFailover = await asyncFailovers(cluster, flavor);
    // The JSON's keys in this order, as before.
    return { flavor, iterations, machine, bootstrap: bootstrapped, version, footprint: idle, healthChecks: checks, failover, asyncFailover };
  } finally {
    // KEEP_BENCH_DATA=1 keeps the pods' logs of a failed run.
    await cluster.down(!process.env.KEEP_BENCH_DATA);
  }
}

function table(results: BenchResults): string {
  const f = results.failover;
  const asyncMode = results.asyncFailover;
  const row = (what: string, value: string, baseline: string, target: string) => `| ${what} | ${value} | ${baseline} | ${target} |`;
  const ms = (s: Stats) => `${s.median} / ${s.p95} ms`;
  return [
    `### ${results.flavor} ${results.version} (${results.iterations} runs, median / p95)`,
    '',
    '| What | Measured | Baseline (same run) | Target |',
    '| --- | --- | --- | --- |',
    row(
      'bootstrap: 3 fresh pods to replicas at 0 lag',
      ms(results.bootstrap.totalMs),
      `mysqld accepting: ${ms(results.bootstrap.baselineMysqldUpMs)}`,
      '≤ 15 s',
    ),
    row('bootstrap: agent overhead', ms(results.bootstrap.agentOverheadMs), '', '≤ 1 s'),
    row('failover RTO, mysqld SIGKILL', ms(f.mysqldSigkill.rtoMs), `HAProxy detection time ${f.mysqldSigkill.baselineDetectionFloorMs} ms`, 'p50 ≤ 3 s'),
    row(
      'acknowledged writes lost (mysqld SIGKILL)',
      `${f.mysqldSigkill.acknowledgedWritesLost} (old primary rejoined every time, after cloning ${f.mysqldSigkill.oldPrimaryCloned}×)`,
      '',
      '0',
    ),
    row('failover RTO, whole pod killed', ms(f.podKill.rtoMs), `lease TTL ${f.podKill.baselineLeaseTtlMs} ms`, '≤ TTL + 2 s'),
    row(
      'acknowledged writes lost (pod kill)',
      `${f.podKill.acknowledgedWritesLost} (old primary rejoined every time, after cloning ${f.podKill.oldPrimaryCloned}×)`,
      '',
      '0',
    ),
    row('planned switchover write gap', ms(f.switchover.writeGapMs), '', '≤ 2 s'),
    row('acknowledged writes lost (switchover)', `${f.switchover.acknowledgedWritesLost}; switchovers refused: ${f.switchover.refused.length}`, '', '0'),
    row('asynchronous mode: failover RTO, mysqld SIGKILL', ms(asyncMode.rtoMs), '', ''),
    row(
      'asynchronous mode: acknowledged writes lost',
      `${asyncMode.acknowledgedWritesLost} in ${asyncMode.rtoMs.n} failovers (old primary kept out as errant ${asyncMode.oldPrimaryKeptOutAsErrant}×, rebuilt)`,
      '',
      'report it',
    ),
    ...HEALTH_PATHS.map((path) => {
      const health = results.healthChecks[path];
      return row(
        `${path} at 2,000 req/s`,
        `${Math.round(health.requestsPerSecond)} req/s, p50 ${health.latencyMs.p50} ms, p99 ${health.latencyMs.p99} ms, ` +
          `${health.statementsPerRequest.toFixed(4)} statements/request`,
        `mysqld statements: ${health.mysqldStatementsMeanwhile} under load vs ${health.baselineIdleStatements} idle`,
        'p99 ≤ 2 ms, 0 statements/request',
      );
    }),
    ...results.footprint.processes.map((p) =>
      row(
        `footprint: ${p.process}`,
        `RSS ${p.rssMiB} MiB, CPU ${p.cpuPercentOfACore} % of a core`,
        '',
        p.process.startsWith('baseline') ? '' : '≤ 60 MiB, ≤ 1 %',
      ),
    ),
  ].join('\n');
}

await ensurePrerequisites({ flavors, haproxy: true, etcd: true }, log);
// Run from the package root (npm run bench), which runs this file built into dist/.
const resultsDir = join(process.cwd(), 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
for (const flavor of flavors) {
  const results = await benchFlavor(flavor);
  const file = join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${flavor}${values.smoke ? '-smoke' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${table(results)}\n\n(${file})\n\n`);
}
