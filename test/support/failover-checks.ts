// What a failover must preserve, checked the same way on any sandbox (processes or
// containers): acknowledged writes, one writable node, no errant GTIDs; and a write load to
// put it under.
import assert from 'node:assert/strict';
import type { AgentStatus } from '../../agent/http/status.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import type { ClusterFile } from '../../agent/sandbox/cluster-file.ts';
import type { AdminReachable } from '../../agent/sandbox/probes.ts';
import { type Row, waitFor } from './cluster.ts';
import { WritableSampler, WriteLoad, type WriteLoadTarget } from './write-load.ts';

/** A pod as these checks use it: its name, its server's socket, queries as the administrator. */
export interface CheckedPod extends AdminReachable {
  readonly name: string;
  adminQuery<T extends object = Row>(sql: string, values?: unknown[]): Promise<T[]>;
  adminRow<T extends object = Row>(sql: string, values?: unknown[]): Promise<T>;
}

/** A sandbox as these checks use it: its pods, its cluster.json, who is primary now. */
export interface CheckedCluster<Pod extends CheckedPod> {
  readonly flavor: Flavor;
  readonly pods: Pod[];
  readonly sandbox: { describe(): ClusterFile };
  currentPrimary(timeoutMs?: number): Promise<Pod>;
}

export function writeTarget(cluster: CheckedCluster<CheckedPod>): WriteLoadTarget {
  const described = cluster.sandbox.describe();
  return { ...described.haproxy.write, user: described.app.user, password: described.app.password, database: described.app.database };
}

export async function ackedMissingOn(pod: CheckedPod, acked: number[]): Promise<number[]> {
  const rows = await pod.adminQuery<{ id: number }>('SELECT id FROM app.acked_writes');
  const present = new Set(rows.map((row) => Number(row.id)));
  return acked.filter((id) => !present.has(id));
}

/** Every node's executed GTIDs are contained in the primary's (checked by the servers themselves where they can). */
export async function assertNoErrantGtids<Pod extends CheckedPod>(cluster: CheckedCluster<Pod>, primary: Pod): Promise<void> {
  for (const pod of cluster.pods.filter((candidate) => candidate !== primary)) {
    const variable = cluster.flavor === 'mysql' ? '@@gtid_executed' : '@@gtid_binlog_state';
    const executed = String((await pod.adminRow(`SELECT ${variable} AS executed`)).executed);
    if (cluster.flavor === 'mysql') {
      const { subset } = await primary.adminRow('SELECT GTID_SUBSET(?, @@gtid_executed) AS subset', [executed]);
      assert.equal(Number(subset), 1, `${pod.name} has errant GTIDs: ${executed} is not within ${primary.name}'s`);
    } else {
      const state = String((await primary.adminRow('SELECT @@gtid_binlog_state AS state')).state);
      const last = new Map(
        state
          .split(',')
          .filter(Boolean)
          .map((gtid) => {
            const [d, s, n] = gtid.split('-');
            return [`${d}-${s}`, Number(n)];
          }),
      );
      for (const gtid of executed.split(',').filter(Boolean)) {
        const [d, s, n] = gtid.split('-');
        assert.ok(Number(n) <= (last.get(`${d}-${s}`) ?? -1), `${pod.name} has errant GTID ${gtid}, not within ${primary.name}'s ${state}`);
      }
    }
  }
}

export async function waitNewPrimary<Pod extends CheckedPod>(cluster: CheckedCluster<Pod>, not: Pod): Promise<Pod> {
  return waitFor(
    `a new primary other than ${not.name}`,
    async () => {
      const primary = await cluster.currentPrimary(1000).catch(() => undefined);
      return primary && primary !== not ? primary : undefined;
    },
    60_000,
  );
}

export interface LoadOutcome<Pod extends CheckedPod> {
  load: WriteLoad;
  primary: Pod;
  sampler: WritableSampler;
  /** From the event to the first write the new primary acknowledged. */
  recoveryMs: number;
  /** From the old primary's last acknowledged write to the new primary's first. */
  writeGapMs: number;
}

/** Runs `event` (which returns the new primary) under a write load, and measures what a user would. */
export async function underLoad<Pod extends CheckedPod>(cluster: CheckedCluster<Pod>, event: () => Promise<Pod>): Promise<LoadOutcome<Pod>> {
  const old = await cluster.currentPrimary();
  const oldServerId = Number((await old.adminRow('SELECT @@server_id AS serverId')).serverId);
  const sampler = new WritableSampler(cluster.pods);
  const load = new WriteLoad(writeTarget(cluster), 4);
  let eventAt: number;
  let primary: Pod;
  let firstNew: number;
  try {
    await waitFor('writes acknowledged before the event', async () => load.acked.length > 50);
    eventAt = Date.now();
    primary = await event();
    firstNew = await waitFor('a write acknowledged by the new primary', async () => load.firstAckElsewhere(eventAt, oldServerId) ?? undefined, 60_000);
    // Some more writes on the new primary, so what is checked afterwards covers them too.
    await waitFor(
      'more writes acknowledged by the new primary',
      async () => load.acks.filter((ack) => ack.at >= firstNew && ack.serverId !== oldServerId).length >= 20,
    );
  } finally {
    await load.stop();
    await sampler.stop();
  }
  const lastOld = load.lastAckBy(oldServerId) ?? eventAt;
  return { load, primary, sampler, recoveryMs: firstNew - eventAt, writeGapMs: firstNew - lastOld };
}

export function report(flavor: Flavor, what: string, outcome: LoadOutcome<CheckedPod>): void {
  const { recoveryMs, writeGapMs, load, sampler } = outcome;
  console.log(
    [
      `# ${flavor}: ${what}: first write on the new primary ${recoveryMs} ms after the event`,
      `write gap ${writeGapMs} ms`,
      `${load.acked.length} writes acknowledged (${load.failures} failed attempts, not acknowledged)`,
      `${sampler.samples} read-only samples, ${sampler.violations.length} with two writable nodes`,
    ].join('; '),
  );
}

/** The longest time between two consecutive acknowledged writes of `load` (ms). */
export function largestWriteGapMs(load: WriteLoad): number {
  const times = load.acks.map((ack) => ack.at).sort((a, b) => a - b);
  return times.reduce((largest, at, i) => (i === 0 ? 0 : Math.max(largest, at - times[i - 1]!)), 0);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

/** How `pod` got the lease last, as its own agent saw it ('hand-over' or 'failover'). */
export function lastLeaseChange(status: AgentStatus): { holder: string; how: string } | undefined {
  const last = status.leaseChanges.at(-1);
  return last && { holder: last.holder, how: last.how };
}
