import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-root.ts';

/** The agent settings of manifests/agent.env (KEY=VALUE lines), the configuration every pod gets. */
export function manifestEnv(): Record<string, string> {
  const lines = readFileSync(join(packageRoot(), 'manifests', 'agent.env'), 'utf8').split('\n');
  return Object.fromEntries(
    lines
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The lease timings of manifests/agent.env (TTL, renew period, store timeout), as they are set there. */
export function manifestLeaseTimings(): Record<string, string> {
  return Object.fromEntries(Object.entries(manifestEnv()).filter(([name]) => /^MYSQL_HA_(LEASE_TTL|RENEW_PERIOD|STORE_TIMEOUT)_MS$/.test(name)));
}
