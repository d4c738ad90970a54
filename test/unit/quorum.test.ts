// What each cluster size survives: commits wait for ⌊pods / 2⌋ acknowledgements (MySQL), and an
// election needs enough replicas that one of them holds every acknowledged write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { electionQuorum, semiSyncAcks } from '../../agent/loop/quorum.ts';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';

/**
 * pods → [acknowledgements, replicas an election needs, replicas that may be down while writes go
 * on, replicas lost with the primary that still allow a failover].
 */
const mysqlTable: Array<[number, [number, number, number, number]]> = [
  [3, [1, 2, 1, 0]],
  [4, [2, 2, 1, 1]],
  [5, [2, 3, 2, 1]],
  [6, [3, 3, 2, 2]],
  [7, [3, 4, 3, 2]],
];

function survives(pods: number, maxAcks: number): [number, number, number, number] {
  const acks = semiSyncAcks(pods, true, maxAcks);
  const quorum = electionQuorum(pods, acks);
  const replicas = pods - 1;
  return [acks, quorum, replicas - acks, replicas - quorum];
}

for (const [pods, expected] of mysqlTable) {
  const [acks, quorum, writesSurvive, failoverSurvives] = expected;
  const survival = `writes survive ${writesSurvive} down, failover the primary and ${failoverSurvives} more`;
  test(`quorum, MySQL, ${pods} pods: ${acks} acknowledgement(s), elections with ${quorum} replicas; ${survival}`, () => {
    assert.deepEqual(survives(pods, dialectForFlavor('mysql').maxSemiSyncAcks), expected);
  });
}

test('quorum, MariaDB (one acknowledgement at most): every replica answers an election, whatever the size', () => {
  for (const pods of [3, 5, 7]) assert.deepEqual(survives(pods, dialectForFlavor('mariadb').maxSemiSyncAcks), [1, pods - 1, pods - 2, 0]);
});

test('quorum: without semi-sync nothing waits, and every replica answers an election (the most data kept)', () => {
  assert.equal(semiSyncAcks(5, false, 65_535), 1);
  assert.equal(electionQuorum(5, 1), 4);
});

test('quorum: two pods elect on the one replica there is (the deciding node itself)', () => {
  assert.deepEqual(survives(2, 65_535), [1, 1, 0, 0]);
});
