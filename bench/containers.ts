// npm run bench -- --containers: the same cluster as container pods (the images built here from
// Dockerfile.agent and Dockerfile.mysql, each pod a network namespace with its server and agent
// containers, peers by DNS name, etcd and HAProxy in containers): each agent's memory and CPU in
// its container, and the write gaps of what happens to pods there (the server process killed
// and restarted by Docker, the pod deleted with its grace period, the pod killed, a switchover).
import { setTimeout as sleep } from 'node:timers/promises';
import { docker } from '../agent/containers/docker.ts';
import { mainProcess, SANDBOX_LEASE_TIMINGS } from '../agent/containers/sandbox.ts';
import type { Flavor } from '../agent/mysql/dialect/types.ts';
import { buildTestImages, ContainerTestCluster, type ContainerTestPod } from '../test/support/container-cluster.ts';
import { ackedMissingOn, type LoadOutcome, underLoad, waitNewPrimary, writeTarget } from '../test/support/failover-checks.ts';
import { WriteLoad } from '../test/support/write-load.ts';
import { idleFootprint, log, memoryText, msText, type ProcessFootprint, requestSwitchover, tableRow as row, stats } from './measure.ts';

/** Host addresses the pods' ports are published on (the process sandbox's are down by then). */
const PREFIX = '127.0.21.';

/** A container's memory as its cgroup counts it, what a Kubernetes memory limit applies to (docker stats: without the reclaimable page cache). */
async function containerMemoryMiB(container: string): Promise<number> {
  const usage = await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', container]);
  const [, value, unit] = /^([\d.]+)\s*([KMG]i?B)/.exec(usage) ?? [];
  const scale: Record<string, number> = { KiB: 1 / 1024, MiB: 1, GiB: 1024, kB: 1 / 1024, MB: 1, GB: 1024 };
  return Math.round(Number(value) * (scale[unit ?? ''] ?? Number.NaN) * 10) / 10;
}

/** Each agent in its container idling with HAProxy checking it; baseline: a bare Node.js process in the agent image, as long. */
async function footprint(cluster: ContainerTestCluster, idleSeconds: number) {
  const baseline = `${cluster.sandbox.id}-bare-node`;
  await docker([
    'run',
    '--detach',
    '--rm',
    '--read-only',
    '--name',
    baseline,
    '--entrypoint',
    'node',
    cluster.sandbox.agentImage,
    '-e',
    'setInterval(() => {}, 1000)',
  ]);
  try {
    await sleep(500);
    const agents = await Promise.all(cluster.pods.map(async (pod) => ({ name: pod.name, pid: await mainProcess(pod.containers.agent), agent: pod })));
    const processes = await idleFootprint([...agents, { name: 'baseline: bare node in the agent image', pid: await mainProcess(baseline) }], idleSeconds);
    const containerMiB = await Promise.all([...cluster.pods.map((pod) => pod.containers.agent), baseline].map(containerMemoryMiB));
    return { idleSeconds, processes: processes.map((p, i): ProcessFootprint & { containerMiB: number } => ({ ...p, containerMiB: containerMiB[i]! })) };
  } finally {
    await docker(['rm', '--force', baseline]);
  }
}

interface EventSamples {
  /** From the event to the first write the new primary acknowledged. */
  recoveryMs: number[];
  /** From the old primary's last acknowledged write to the new primary's first. */
  writeGapMs: number[];
  acknowledgedWritesLost: number;
  /** Samples in which two servers were writable at once. */
  twoWritable: number;
}

const summary = (samples: EventSamples) => ({
  recoveryMs: stats(samples.recoveryMs),
  writeGapMs: stats(samples.writeGapMs),
  acknowledgedWritesLost: samples.acknowledgedWritesLost,
  twoWritable: samples.twoWritable,
});

/** The four events in turn, `rounds` times, each under 4 writers through HAProxy; the cluster healthy again before the next. */
async function events(cluster: ContainerTestCluster, rounds: number) {
  const { sandbox } = cluster;
  const token = sandbox.describe().switchoverToken;
  // Each kind prepares its event before the load starts and returns it: the server's processes
  // are found first, so that the event is the signal alone (a docker command takes 0.1-0.3 s here).
  const kinds = {
    serverKilled: async (old: ContainerTestPod) => {
      const pids = await sandbox.serverProcesses(old);
      return () => {
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        return waitNewPrimary(cluster, old);
      };
    },
    podDeleted: async (old: ContainerTestPod) => async () => {
      await sandbox.stopPod(old);
      return waitNewPrimary(cluster, old);
    },
    // With docker kill, as a node lost: Docker restarts a container whose process was killed otherwise (restart always).
    podKilled: async (old: ContainerTestPod) => async () => {
      await sandbox.crashPod(old);
      return waitNewPrimary(cluster, old);
    },
    switchover: async (old: ContainerTestPod) => async () => {
      await requestSwitchover(old, token);
      return waitNewPrimary(cluster, old);
    },
  };
  const samples = Object.fromEntries(
    Object.keys(kinds).map((kind) => [kind, { recoveryMs: [], writeGapMs: [], acknowledgedWritesLost: 0, twoWritable: 0 } as EventSamples]),
  ) as Record<keyof typeof kinds, EventSamples>;
  for (let round = 1; round <= rounds; round++) {
    for (const [kind, prepare] of Object.entries(kinds) as Array<[keyof typeof kinds, (old: ContainerTestPod) => Promise<() => Promise<ContainerTestPod>>]>) {
      await cluster.waitHealthy(180_000);
      const old = await cluster.currentPrimary();
      const event = await prepare(old);
      const outcome: LoadOutcome<ContainerTestPod> = await underLoad(cluster, event);
      const lost = (await ackedMissingOn(outcome.primary, outcome.load.acked)).length;
      const into = samples[kind];
      into.recoveryMs.push(outcome.recoveryMs);
      into.writeGapMs.push(outcome.writeGapMs);
      into.acknowledgedWritesLost += lost;
      into.twoWritable += outcome.sampler.violations.length;
      // A deleted or killed pod is started again, as its StatefulSet would; a killed server Docker restarts by itself.
      if (kind === 'podDeleted' || kind === 'podKilled') await sandbox.startPod(old);
      log(
        `${cluster.flavor} containers: ${kind} ${round}/${rounds}: first new write ${outcome.recoveryMs} ms, write gap ${outcome.writeGapMs} ms, ${lost} lost`,
      );
    }
  }
  await cluster.waitHealthy(180_000);
  return {
    serverKilled: summary(samples.serverKilled),
    podDeleted: summary(samples.podDeleted),
    podKilled: summary(samples.podKilled),
    switchover: summary(samples.switchover),
  };
}

/** The section's results, in the flavour's JSON under `containers`. */
export async function containerBench(flavor: Flavor, options: { iterations: number; idleSeconds: number }) {
  log(`${flavor} containers: building the images (cached after the first build)`);
  await buildTestImages(flavor, (line) => log(`images: ${line}`));
  const engine = await docker(['version', '--format', '{{.Server.Version}}']);
  const started = Date.now();
  // As the process runs: no anti-flapping window between the back-to-back failovers measured.
  const cluster = await ContainerTestCluster.start(flavor, {
    addressPrefix: PREFIX,
    env: { MYSQL_HA_FAILOVER_WINDOW_MS: '0' },
    progress: (line) => log(`containers: ${line}`),
  });
  try {
    const upMs = Date.now() - started;
    await WriteLoad.prepare(writeTarget(cluster));
    log(`${flavor} containers: footprint over ${options.idleSeconds} s idle`);
    const idle = await footprint(cluster, options.idleSeconds);
    log(`${flavor} containers: server killed, pod deleted, pod killed, switchover × ${options.iterations}`);
    const measured = await events(cluster, options.iterations);
    return {
      runtime: `containers (Docker Engine ${engine}: a network namespace per pod, server and agent containers, etcd and HAProxy in containers)`,
      version: cluster.sandbox.version ?? 'unknown',
      sandboxUpMs: upMs,
      footprint: idle,
      events: measured,
    };
  } finally {
    // KEEP_BENCH_DATA=1 keeps the containers and logs of a failed run.
    if (!process.env.KEEP_BENCH_DATA) await cluster.sandbox.down(true);
  }
}

export type ContainerBenchResults = Awaited<ReturnType<typeof containerBench>>;

/** The section's table, as bench/README.md shows it. */
export function containerTable(results: ContainerBenchResults & { flavor: Flavor; iterations: number; machine: { cpus: number } }): string {
  const outcome = (e: ReturnType<typeof summary>) => `${e.acknowledgedWritesLost} acknowledged writes lost, ${e.twoWritable} samples with two writable servers`;
  const { serverKilled, podDeleted, podKilled, switchover } = results.events;
  return [
    `### ${results.flavor} ${results.version} (${results.iterations} runs, median / p95; ${results.runtime}, ${results.machine.cpus} cores)`,
    '',
    '| What | Measured | Baseline (same run) | Target |',
    '| --- | --- | --- | --- |',
    row('sandbox up: containers started to a healthy cluster', `${results.sandboxUpMs} ms (once)`, '', ''),
    row('failover RTO, server process SIGKILLed (Docker restarts it)', `${msText(serverKilled.recoveryMs)}; ${outcome(serverKilled)}`, '', 'median ≤ 1 s'),
    row('primary pod deleted (preStop hook, SIGTERM, grace period): write gap', `${msText(podDeleted.writeGapMs)}; ${outcome(podDeleted)}`, '', 'report it'),
    // docker kill (the agent first, then the server and the pod) takes 0.5-0.8 s here before the
    // server dies: the write gap, from the old primary's last write, is the pod loss's cost.
    row(
      'whole pod killed (docker kill): write gap',
      `${msText(podKilled.writeGapMs)} (from the docker kill command: ${msText(podKilled.recoveryMs)}); ${outcome(podKilled)}`,
      `lease TTL ${SANDBOX_LEASE_TIMINGS.MYSQL_HA_LEASE_TTL_MS} ms`,
      'median ≤ TTL + 0.5 s',
    ),
    row('planned switchover write gap', `${msText(switchover.writeGapMs)}; ${outcome(switchover)}`, '', 'median ≤ 0.5 s'),
    ...results.footprint.processes.map((p) =>
      row(
        `footprint: ${p.process}`,
        `${memoryText(p)}, container memory ${p.containerMiB} MiB, CPU ${p.cpuPercentOfACore} % of a core`,
        '',
        p.process.startsWith('baseline') ? '' : '≤ 60 MiB, ≤ 1 %',
      ),
    ),
  ].join('\n');
}
