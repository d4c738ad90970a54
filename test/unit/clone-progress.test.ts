// A running clone's progress, as /status shows it: read from MySQL's per-step rows on a second session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CopyProgress } from '../../agent/loop/snapshot.ts';
import { cloneProgressOf, watchClone } from '../../agent/mysql/clone-progress.ts';

const STEPS = ['DROP DATA', 'FILE COPY', 'PAGE COPY', 'REDO COPY', 'FILE SYNC', 'RESTART', 'RECOVERY'];
/** performance_schema.clone_progress as the dialect's query returns it: steps before `at` completed, `at` in progress. */
function rows(at: number, bytes: number[], estimates: number[]) {
  return STEPS.map((step, index) => ({
    step,
    state: index < at ? 'Completed' : index === at ? 'In Progress' : 'Not Started',
    bytes: bytes[index] ?? 0,
    estimatedBytes: estimates[index] ?? 0,
  }));
}

const cases: Array<{ name: string; rows: Record<string, unknown>[]; expected: CopyProgress | null }> = [
  { name: 'no clone has run: no rows', rows: [], expected: null },
  { name: "the previous clone's rows, all completed: nothing runs now", rows: rows(STEPS.length, [0, 5e6], [0, 5e6]), expected: null },
  {
    name: 'copying files: the bytes and estimates of every step so far',
    rows: rows(1, [0, 3e6], [0, 8e6, 1e6]),
    expected: { stage: 'receiving', donor: 'mysql-ha-1', bytes: 3e6, estimatedBytes: 9e6, step: 'FILE COPY' },
  },
  {
    name: 'restarting on the copy',
    rows: rows(5, [0, 8e6, 1e6, 2e5], [0, 8e6, 1e6, 2e5]),
    expected: { stage: 'restarting', donor: 'mysql-ha-1', bytes: 9.2e6, estimatedBytes: 9.2e6, step: 'RESTART' },
  },
  {
    name: 'recovering after the restart',
    rows: rows(6, [0, 8e6], [0, 8e6]),
    expected: { stage: 'restarting', donor: 'mysql-ha-1', bytes: 8e6, estimatedBytes: 8e6, step: 'RECOVERY' },
  },
];

for (const { name, rows: given, expected } of cases) {
  test(`clone progress: ${name}`, () => {
    assert.deepEqual(cloneProgressOf(given, 'mysql-ha-1'), expected);
  });
}

test('clone progress: polled on its own session until stopped; a failed poll (the server restarting) is skipped; the session is closed', async () => {
  const answers: Array<Record<string, unknown>[] | Error> = [rows(1, [0, 1e6], [0, 4e6]), new Error('server restarting'), rows(5, [0, 4e6], [0, 4e6])];
  const asked: string[] = [];
  let closed = false;
  const session = {
    async query(sql: string) {
      asked.push(sql);
      const answer = answers.shift() ?? [];
      if (answer instanceof Error) throw answer;
      return answer;
    },
    async close() {
      closed = true;
    },
  };
  const reported: CopyProgress[] = [];
  const watch = watchClone(session, 'SELECT progress', 'mysql-ha-2', (progress) => reported.push(progress), 5);
  while (answers.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await watch.stop();
  const asksWhenStopped = asked.length;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(asked.length, asksWhenStopped, 'no poll after stop()');
  assert.ok(closed);
  assert.deepEqual(
    reported.map((progress) => [progress.step, progress.bytes]),
    [
      ['FILE COPY', 1e6],
      ['RESTART', 4e6],
    ],
  );
  assert.ok(asked.every((sql) => sql === 'SELECT progress'));
});
