import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MANIFEST_ENV = fileURLToPath(new URL('../../manifests/agent.env', import.meta.url));

/** The agent settings of manifests/agent.env (KEY=VALUE lines), the configuration every pod gets; `file` when run built, from dist/. */
export function manifestEnv(file = MANIFEST_ENV): Record<string, string> {
  const lines = readFileSync(file, 'utf8').split('\n');
  return Object.fromEntries(
    lines
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The lease timings of manifests/agent.env (TTL, renew period, store timeout), as they are set there. */
export function manifestLeaseTimings(file = MANIFEST_ENV): Record<string, string> {
  return Object.fromEntries(Object.entries(manifestEnv(file)).filter(([name]) => /^MYSQL_HA_(LEASE_TTL|RENEW_PERIOD|STORE_TIMEOUT)_MS$/.test(name)));
}
