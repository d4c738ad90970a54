// Failures of every kind in turn, about 40 s apart, under 4 writers, with the agents' default
// anti-flapping window (30 s): mysqld SIGKILL, a crashed pod, a planned switchover and a
// deleted pod. None of them is a flap, so each costs its own kind's write gap and never an
// anti-flapping wait (the old rule, one window after any change of holder, held most of them
// back). MySQL 9.7; the failover suite covers each kind on both flavours.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestCluster, type TestPod } from '../support/cluster.ts';
import { ackedMissingOn, assertNoErrantGtids, median, report, underLoad, waitNewPrimary, writeTarget } from '../support/failover-checks.ts';
import { WriteLoad } from '../support/write-load.ts';

const FLAVOR = 'mysql';
// This file's own addresses (127.0.10. to 127.0.17. are other suites').
const PREFIX = '127.0.18.';
// Beyond the default anti-flapping window (30 s) even after a pod crash's lease expiry (about 5 s).
const SPACING_MS = 40_000;
const ROUNDS = 2;
const KINDS = ['mysqld SIGKILL', 'pod crash', 'switchover', 'pod deleted'] as const;
type Kind = (typeof KINDS)[number];

describe(`${FLAVOR}: mixed failures about ${SPACING_MS / 1000} s apart under 4 writers, default anti-flapping window`, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start(FLAVOR, { addressPrefix: PREFIX, haproxy: true });
    await cluster.waitHealthy();
    await WriteLoad.prepare(writeTarget(cluster));
  });
  after(async () => cluster?.destroy());

  /** Causes `kind` on the primary `old`; returns the new primary. */
  async function fail(kind: Kind, old: TestPod): Promise<TestPod> {
    switch (kind) {
      case 'mysqld SIGKILL':
        await old.stopMysqld('SIGKILL');
        break;
      case 'pod crash':
        await cluster.sandbox.crashPod(old);
        break;
      case 'switchover': {
        const answer = await old.control('/switchover');
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        break;
      }
      case 'pod deleted':
        await cluster.sandbox.stopPod(old);
        break;
    }
    return waitNewPrimary(cluster, old);
  }

  test('every failure costs a failover of its kind, never an anti-flapping wait; nothing acknowledged lost, one writable node', async () => {
    const gaps = new Map<Kind, number[]>(KINDS.map((kind) => [kind, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of KINDS) {
        const startedAt = Date.now();
        await cluster.waitHealthy();
        const old = await cluster.currentPrimary();
        const outcome = await underLoad(cluster, () => fail(kind, old));
        report(FLAVOR, `${kind} (round ${round})`, outcome);
        gaps.get(kind)!.push(outcome.writeGapMs);
        assert.deepEqual(await ackedMissingOn(outcome.primary, outcome.load.acked), [], `${kind}: acknowledged writes lost`);
        assert.deepEqual(outcome.sampler.violations, [], `${kind}: two writable nodes`);
        // The old primary's pod back, as Kubernetes would bring it back.
        cluster.sandbox.startPod(old);
        await cluster.waitHealthy();
        await assertNoErrantGtids(cluster, outcome.primary);
        await sleep(Math.max(0, startedAt + SPACING_MS - Date.now()));
      }
    }
    const perKind = KINDS.map((kind) => `${kind} ${median(gaps.get(kind)!)} ms (${gaps.get(kind)!.join(', ')})`);
    console.log(`# ${FLAVOR}: mixed failures, median write gap per kind: ${perKind.join('; ')}`);
    const heldBack = cluster.pods.flatMap((pod) =>
      readFileSync(pod.paths.agentLog, 'utf8')
        .split('\n')
        .filter((line) => line.includes('quick failover number')),
    );
    assert.deepEqual(heldBack, [], 'a failover was held back by anti-flapping');
  });
});
