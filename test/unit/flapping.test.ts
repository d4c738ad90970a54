import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failoverHoldBack } from '../../agent/loop/flapping.ts';
import type { LeaseChange } from '../../agent/loop/state.ts';

const WINDOW = 30_000;
const holders = ['mysql-ha-0', 'mysql-ha-1', 'mysql-ha-2'];

/** A history: a first holder at 0, then failovers (or hand-overs) after each tenure in turn. */
function history(tenures: number[], how: LeaseChange['how'] = 'failover'): LeaseChange[] {
  const changes: LeaseChange[] = [{ holder: holders[0]!, at: 0, how: 'first-seen' }];
  for (const [i, tenure] of tenures.entries()) changes.push({ holder: holders[(i + 1) % 3]!, at: changes.at(-1)!.at + tenure, how });
  return changes;
}
const lastAt = (changes: LeaseChange[]) => changes.at(-1)!.at;

const rows: { name: string; tenures: number[]; how?: LeaseChange['how']; deadAfter: number; expected: { quickFailovers: number; waitMs: number } | null }[] = [
  { name: 'the first quick failover', tenures: [], deadAfter: 1_000, expected: null },
  { name: 'the second quick failover in a row', tenures: [1_000], deadAfter: 1_000, expected: null },
  {
    name: 'the third: waits until the dead primary would have held it one window',
    tenures: [1_000, 1_000],
    deadAfter: 1_000,
    expected: { quickFailovers: 3, waitMs: 29_000 },
  },
  {
    name: 'the fourth, right after the third was let go: two windows',
    tenures: [1_000, 1_000, WINDOW],
    deadAfter: 1_000,
    expected: { quickFailovers: 4, waitMs: 59_000 },
  },
  { name: 'the fifth: four windows', tenures: [1_000, 1_000, WINDOW, 2 * WINDOW], deadAfter: 1_000, expected: { quickFailovers: 5, waitMs: 119_000 } },
  {
    name: 'never more than 16 windows',
    tenures: [1, 1, WINDOW, 2 * WINDOW, 4 * WINDOW, 8 * WINDOW, 16 * WINDOW],
    deadAfter: 0,
    expected: { quickFailovers: 8, waitMs: 16 * WINDOW },
  },
  { name: 'a primary that held the lease twice its bound ends the run', tenures: [1_000, 1_000, 2 * WINDOW], deadAfter: 1_000, expected: null },
  { name: 'the dead primary held it a window: no flapping', tenures: [1_000, 1_000], deadAfter: WINDOW, expected: null },
  { name: 'one failover a minute: never held back', tenures: [60_000, 60_000, 60_000, 60_000, 60_000], deadAfter: 60_000, expected: null },
  { name: 'hand-overs are no failovers', tenures: [1_000, 1_000, 1_000], how: 'hand-over', deadAfter: 1_000, expected: null },
];

for (const row of rows) {
  test(`anti-flapping: ${row.name}`, () => {
    const changes = history(row.tenures, row.how);
    assert.deepEqual(failoverHoldBack(changes, lastAt(changes) + row.deadAfter, WINDOW), row.expected);
  });
}

test('anti-flapping: no holder seen yet, nothing to hold back', () => {
  assert.equal(failoverHoldBack([], 1_000, WINDOW), null);
});

test('anti-flapping: a window of 0 turns it off', () => {
  const changes = history([1, 1, 1, 1]);
  assert.equal(failoverHoldBack(changes, lastAt(changes) + 1, 0), null);
});
