// When the loop looks next, as a table: at once after an action, never in a tight loop, back to the interval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AT_ONCE_IN_A_ROW, type LookState, nextLook, SETTLED, SOON_MS } from '../../agent/loop/next-look.ts';

const INTERVAL_MS = 500;
const afterActions = (actionsInARow: number): LookState => ({ actionsInARow, quietLooks: 0 });
const quiet = (quietLooks: number): LookState => ({ actionsInARow: 0, quietLooks });

const rows: Array<{ what: string; before: LookState; acted: boolean; soon?: boolean; intervalMs?: number; after: LookState; delayMs: number }> = [
  { what: 'settled, nothing to do: the interval', before: SETTLED, acted: false, after: SETTLED, delayMs: INTERVAL_MS },
  { what: 'an action after a quiet spell: look at once', before: SETTLED, acted: true, after: afterActions(1), delayMs: 0 },
  { what: 'a second action in a row (the lease taken, then promoting): at once', before: afterActions(1), acted: true, after: afterActions(2), delayMs: 0 },
  {
    what: `action ${AT_ONCE_IN_A_ROW + 1} in a row (one that does not take): soon, never a tight loop`,
    before: afterActions(AT_ONCE_IN_A_ROW),
    acted: true,
    after: afterActions(AT_ONCE_IN_A_ROW + 1),
    delayMs: SOON_MS,
  },
  { what: 'the first quiet look after an action: 100 ms', before: afterActions(2), acted: false, after: quiet(1), delayMs: 100 },
  { what: 'the second quiet look: 200 ms', before: quiet(1), acted: false, after: quiet(2), delayMs: 200 },
  { what: 'the third quiet look: the interval again', before: quiet(2), acted: false, after: SETTLED, delayMs: INTERVAL_MS },
  { what: 'an action while settling: at once', before: quiet(1), acted: true, after: afterActions(1), delayMs: 0 },
  { what: 'a wake-up or a holder losing mysqld: soon', before: SETTLED, acted: false, soon: true, after: SETTLED, delayMs: SOON_MS },
  {
    what: 'a reason to look soon right after an action: soon, not at once',
    before: SETTLED,
    acted: true,
    soon: true,
    after: afterActions(1),
    delayMs: SOON_MS,
  },
  { what: 'an interval shorter than a settling delay wins', before: quiet(1), acted: false, intervalMs: 80, after: quiet(2), delayMs: 80 },
];

for (const row of rows) {
  test(`next look: ${row.what}`, () => {
    assert.deepEqual(nextLook(row.before, row.acted, row.soon ?? false, row.intervalMs ?? INTERVAL_MS), { state: row.after, delayMs: row.delayMs });
  });
}
