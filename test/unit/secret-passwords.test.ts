import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SecretPasswords } from '../../agent/pod/secret-passwords.ts';
import { captureLogger, pinoLevels } from '../support/capture-logger.ts';

function secretFiles() {
  const dir = mkdtempSync(join(tmpdir(), 'mha-secret-'));
  const files = { agent: join(dir, 'agent-password'), replication: join(dir, 'replication-password'), app: join(dir, 'app-password') };
  for (const [name, file] of Object.entries(files)) writeFileSync(file, `${name}-1\n`);
  return files;
}

const config = (files: Record<'agent' | 'replication' | 'app', string | null>) => ({
  agent: { user: 'mysqlha_agent', password: 'agent-1' },
  replication: { user: 'mysqlha_repl', password: 'replication-1' },
  app: { user: 'app', database: 'app', password: 'app-1' },
  passwordFiles: files,
});

test("the Secret's passwords are read again at every ask: a rotated file is taken at once, without its trailing newline", () => {
  const files = secretFiles();
  const passwords = new SecretPasswords(config(files), captureLogger().logger);
  assert.deepEqual(passwords.current(), { agent: 'agent-1', replication: 'replication-1', app: 'app-1' });
  // As the kubelet changes a mounted Secret: the file replaced at once.
  writeFileSync(`${files.app}.new`, 'app-2\n');
  renameSync(`${files.app}.new`, files.app);
  assert.deepEqual(passwords.current(), { agent: 'agent-1', replication: 'replication-1', app: 'app-2' });
});

test('a password file that is gone or empty leaves the last password in place, and says so; one from the environment never changes', () => {
  const files = secretFiles();
  const { logger, lines } = captureLogger();
  const passwords = new SecretPasswords(config(files), logger);
  rmSync(files.replication);
  writeFileSync(files.agent, '');
  assert.deepEqual(passwords.current(), { agent: 'agent-1', replication: 'replication-1', app: 'app-1' });
  passwords.current(); // the next tick: each problem is said once, not at every read
  const warnings = lines.filter((line) => line.level === pinoLevels.warn).map((line) => line.msg);
  assert.deepEqual(warnings.sort(), ['cannot read the password file; keeping the last password', 'the password file is empty; keeping the last password']);
  assert.doesNotMatch(JSON.stringify(lines), /agent-1|replication-1|app-1/, 'a password reached the log');

  const fromEnvironment = new SecretPasswords(config({ agent: null, replication: null, app: null }), logger);
  assert.deepEqual(fromEnvironment.current(), { agent: 'agent-1', replication: 'replication-1', app: 'app-1' });
});
