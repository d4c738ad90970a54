import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyBinary, unshareBinary } from './tools.ts';

export interface HaproxyCheckResult {
  status: number | null;
  output: string;
  warnings: string[];
}

/**
 * Runs `haproxy -c` on a config. It runs in a new network namespace with no interface
 * up: `haproxy -c` resolves server names and opens the resolvers' sockets, and this
 * keeps those lookups from leaving the machine (they fail at once instead).
 */
export function haproxyCheck(config: string, env: Record<string, string> = {}): HaproxyCheckResult {
  const haproxy = haproxyBinary();
  const unshare = unshareBinary();
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-haproxy-'));
  try {
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, config);
    const result = spawnSync(unshare, ['--net', haproxy, '-c', '-f', file], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      timeout: 30_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    if (result.error || /unshare: /.test(result.stderr)) {
      throw new Error(`cannot run haproxy -c in a private network namespace (needs root or user namespaces): ${result.error?.message ?? result.stderr}`);
    }
    const warnings = output.split('\n').filter((line) => line.includes('[WARNING]'));
    return { status: result.status, output, warnings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Warnings that only say the offline check could not reach a DNS server. */
export function isOfflineDnsWarning(line: string): boolean {
  return /can't connect socket for nameserver|could not resolve address/.test(line);
}
