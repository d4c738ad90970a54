// What every section of the benchmark measures the same way, whatever runs the pods (processes
// or containers): medians, waiting, a process's memory and CPU from /proc, an agent's own view
// of its memory from /metrics.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentClientOf, agentUrl, type ReachablePod } from '../agent/sandbox/agents.ts';
import { waitFor } from '../agent/sandbox/probes.ts';

export const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

export interface Stats {
  median: number;
  p95: number;
  n: number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { median: at(0.5), p95: at(0.95), n: sorted.length };
}

/** A row of the tables: what, the measure, its same-run baseline, the target. */
export const tableRow = (what: string, value: string, baseline: string, target: string) => `| ${what} | ${value} | ${baseline} | ${target} |`;

/** A statistic as the tables print it. */
export const msText = (s: Stats) => `${s.median} / ${s.p95} ms`;

/** Asks `pod`, the primary, for a planned switchover; throws with the agent's answer when it is refused. */
export async function requestSwitchover(pod: ReachablePod & { name: string }, token: string): Promise<void> {
  const response = await agentClientOf(pod).request(`${agentUrl(pod)}/switchover`, { method: 'POST', token, body: {}, timeoutMs: 60_000 });
  if (response.status !== 200) throw new Error(`switchover refused by ${pod.name} (HTTP ${response.status}): ${await response.text()}`);
}

/** Polls every 50 ms (the measured times are only as fine as this), for up to 2 minutes. */
export const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => waitFor(what, probe, 120_000, { intervalMs: 50 });

/**
 * A process's resident memory, split as the kernel counts it: anonymous (its heap, stacks and
 * buffers: its own) and file-backed (the pages of its executable and libraries it touched, shared
 * with every other process running the same file), and its CPU ticks so far.
 */
export function sampleProcess(pid: number): { rssMiB: number; anonymousMiB: number; fileMiB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMiB: mib('VmRSS'), anonymousMiB: mib('RssAnon'), fileMiB: mib('RssFile'), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** One scrape of an agent's /metrics: the value of an unlabelled metric by name. */
export async function scrape(pod: ReachablePod): Promise<(name: string) => number> {
  const response = await agentClientOf(pod).request(`${agentUrl(pod)}/metrics`, { timeoutMs: 10_000 });
  const text = await response.text();
  return (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** Where an agent's memory is: V8's heap (used of allocated) and memory outside it held by JavaScript objects (buffers, TLS). */
export async function agentMemory(pod: ReachablePod) {
  const bytes = await scrape(pod);
  const mib = (name: string) => Math.round((bytes(name) / 1048576) * 10) / 10;
  return {
    heapUsedMiB: mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
  };
}

export interface ProcessFootprint {
  process: string;
  /** The largest RSS seen over the window, and how it split then. */
  rssMiB: number;
  anonymousMiB: number;
  fileMiB: number;
  cpuPercentOfACore: number;
  /** An agent's own view of its memory, from its /metrics at the end of the window. */
  memory?: Awaited<ReturnType<typeof agentMemory>>;
}

const tenths = (value: number) => Math.round(value * 10) / 10;

/** Samples each process every second for `seconds`: its peak RSS and its mean CPU; for agents, their /metrics at the end. */
export async function idleFootprint(processes: Array<{ name: string; pid: number; agent?: ReachablePod }>, seconds: number): Promise<ProcessFootprint[]> {
  const first = processes.map(({ pid }) => sampleProcess(pid));
  const peak = [...first];
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    await sleep(1000);
    processes.forEach(({ pid }, i) => {
      const sample = sampleProcess(pid);
      if (sample.rssMiB > peak[i]!.rssMiB) peak[i] = sample;
    });
  }
  const elapsed = (Date.now() - started) / 1000;
  return Promise.all(
    processes.map(async ({ name, pid, agent }, i) => ({
      process: name,
      rssMiB: tenths(peak[i]!.rssMiB),
      anonymousMiB: tenths(peak[i]!.anonymousMiB),
      fileMiB: tenths(peak[i]!.fileMiB),
      cpuPercentOfACore: tenths(((sampleProcess(pid).cpuTicks - first[i]!.cpuTicks) / 100 / elapsed) * 100),
      ...(agent ? { memory: await agentMemory(agent) } : {}),
    })),
  );
}

/** A footprint's memory as the tables print it. */
export function memoryText(p: ProcessFootprint): string {
  const heap = p.memory ? `; V8 heap ${p.memory.heapUsedMiB} MiB used of ${p.memory.heapTotalMiB}, external ${p.memory.externalMiB}` : '';
  return `RSS ${p.rssMiB} MiB (${p.anonymousMiB} anonymous, ${p.fileMiB} file-backed: mostly the executable's${heap})`;
}
