// When the loop looks next, as a table: soon after an action, never in a tight loop, back to the interval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type LookState, nextLook, SETTLED, SOON_MS } from '../../agent/loop/next-look.ts';

const INTERVAL_MS = 500;
const quiet = (quietLooks: number): LookState => ({ quietLooks });

const rows: Array<{ what: string; before: LookState; acted: boolean; soon?: boolean; intervalMs?: number; after: LookState; delayMs: number }> = [
  { what: 'settled, nothing to do: the interval', before: SETTLED, acted: false, after: SETTLED, delayMs: INTERVAL_MS },
  { what: 'an action after a quiet spell: soon', before: SETTLED, acted: true, after: quiet(0), delayMs: SOON_MS },
  { what: 'an action right after an action: soon again, never a tight loop', before: quiet(0), acted: true, after: quiet(0), delayMs: SOON_MS },
  { what: 'the first quiet look after an action: 100 ms', before: quiet(0), acted: false, after: quiet(1), delayMs: 100 },
  { what: 'the second quiet look: 200 ms', before: quiet(1), acted: false, after: quiet(2), delayMs: 200 },
  { what: 'the third quiet look: the interval again', before: quiet(2), acted: false, after: SETTLED, delayMs: INTERVAL_MS },
  { what: 'an action while settling: soon', before: quiet(1), acted: true, after: quiet(0), delayMs: SOON_MS },
  { what: 'a wake-up or a holder losing mysqld: soon', before: SETTLED, acted: false, soon: true, after: SETTLED, delayMs: SOON_MS },
  { what: 'an interval shorter than a settling delay wins', before: quiet(1), acted: false, intervalMs: 80, after: quiet(2), delayMs: 80 },
];

for (const row of rows) {
  test(`next look: ${row.what}`, () => {
    assert.deepEqual(nextLook(row.before, row.acted, row.soon ?? false, row.intervalMs ?? INTERVAL_MS), { state: row.after, delayMs: row.delayMs });
  });
}
