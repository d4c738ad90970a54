import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MysqldMayStopFile } from '../../agent/pod/mysqld-may-stop.ts';
import { captureLogger } from '../support/capture-logger.ts';

test("the may-stop file: a stale one is cleared at start; written once, with the first reason (the 'exit' handler's comes too late)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-may-stop-'));
  try {
    const path = join(dir, 'mysqld-may-stop');
    writeFileSync(path, 'left by an earlier run\n');
    const file = new MysqldMayStopFile(path, captureLogger().logger);
    file.clear();
    assert.equal(existsSync(path), false, 'a stale file would let mysqld stop before the hand-over');
    file.write('the agent stopped on SIGTERM');
    file.write('the agent exited');
    assert.equal(readFileSync(path, 'utf8'), 'the agent stopped on SIGTERM\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the may-stop file: an unwritable one is logged, never thrown (the hook then waits out its own limit)', () => {
  const log = captureLogger();
  new MysqldMayStopFile('/nonexistent-dir/mysqld-may-stop', log.logger).write('the agent exited');
  assert.match(log.lines[0]?.msg ?? '', /cannot tell the server container that mysqld may stop/);
});
