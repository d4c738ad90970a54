import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CertificateReloader } from '../../agent/pod/certificate-reloader.ts';
import { captureLogger, pinoLevels } from '../support/capture-logger.ts';

function secretDir() {
  const dir = mkdtempSync(join(tmpdir(), 'mha-certs-'));
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  for (const file of Object.values(files)) writeFileSync(file, `first ${file}`);
  return files;
}

test('mysqld and the agent are told to load the certificate files at the start and again only when they change', async () => {
  const files = secretDir();
  const { logger, lines } = captureLogger();
  let reloads = 0;
  const reloader = new CertificateReloader(files, async () => reloads++, logger);
  assert.equal(await reloader.check(), 'reloaded', 'mysqld may have started before a renewal');
  assert.equal(await reloader.check(), 'unchanged');
  assert.equal(reloads, 1);
  // A renewal replaces the key and the certificate; a new CA counts as much.
  for (const file of [files.keyFile, files.caFile]) {
    writeFileSync(file, `renewed ${file}`);
    assert.equal(await reloader.check(), 'reloaded');
    assert.equal(await reloader.check(), 'unchanged');
  }
  assert.equal(reloads, 3);
  assert.equal(lines.filter((line) => line.msg.includes('mysqld and the agent present the new certificate')).length, 2);
});

test('a reload that fails (mysqld down, or files that do not belong together) is logged and retried', async () => {
  const files = secretDir();
  const { logger, lines } = captureLogger();
  let failing = true;
  const reloader = new CertificateReloader(
    files,
    async () => {
      if (failing) throw new Error('Failed to set up SSL because of the following SSL library error: Invalid certificates');
    },
    logger,
  );
  assert.equal(await reloader.check(), 'failed');
  assert.equal(await reloader.check(), 'failed', 'retried, not taken as loaded');
  const warnings = lines.filter((line) => line.level === pinoLevels.warn);
  assert.equal(warnings.length, 2);
  assert.match(String(warnings[0]?.error), /Invalid certificates/);
  failing = false;
  assert.equal(await reloader.check(), 'reloaded');
  assert.equal(await reloader.check(), 'unchanged');
});
