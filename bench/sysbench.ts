// The benchmark's write workload: sysbench's oltp_insert (one INSERT per autocommitted
// transaction) from a fixed number of threads for a fixed time against one MySQL endpoint, its
// throughput and latency percentile read from its report. The password goes in a private
// options file (--config-file), never on a command line.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** sysbench 1.0's TLS reads cacert.pem, client-cert.pem and client-key.pem from its working directory: these files are put there. */
  tls: { caFile: string; certFile: string; keyFile: string };
}

export interface Workload {
  threads: number;
  seconds: number;
}

export interface WorkloadResult {
  transactionsPerSecond: number;
  p99Ms: number;
  /** Statements that failed and were retried or skipped by sysbench: must be 0 for a fair comparison. */
  errors: number;
}

/** Runs one sysbench step of oltp_insert on one table; returns its report. */
async function sysbench(endpoint: Endpoint, step: 'prepare' | 'run' | 'cleanup', workload: Workload): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-sysbench-'));
  const options = join(dir, 'options');
  copyFileSync(endpoint.tls.caFile, join(dir, 'cacert.pem'));
  copyFileSync(endpoint.tls.certFile, join(dir, 'client-cert.pem'));
  copyFileSync(endpoint.tls.keyFile, join(dir, 'client-key.pem'));
  writeFileSync(
    options,
    [
      `mysql-host=${endpoint.host}`,
      `mysql-port=${endpoint.port}`,
      `mysql-user=${endpoint.user}`,
      `mysql-password=${endpoint.password}`,
      `mysql-db=${endpoint.database}`,
      // Over TLS, as applications of a cluster with certificates connect (MySQL 9's caching_sha2_password needs it or an RSA key);
      // encrypted, the server's certificate not verified (sysbench 1.0 cannot ask for it).
      'mysql-ssl=on',
      'tables=1',
      'table-size=0',
      `threads=${workload.threads}`,
      `time=${workload.seconds}`,
      'percentile=99',
      'db-ps-mode=disable',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  try {
    const { stdout } = await run('sysbench', [`--config-file=${options}`, 'oltp_insert', step], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`sysbench oltp_insert ${step} against ${endpoint.host}:${endpoint.port} failed: ${(stderr || stdout || String(error)).trim().slice(-800)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Throughput, p99 latency and errors from sysbench's report. */
export function parseReport(report: string): WorkloadResult {
  const transactions = /transactions:\s+\d+\s+\(([\d.]+) per sec\.\)/.exec(report);
  const p99 = /99th percentile:\s+([\d.]+)/.exec(report);
  const errors = /ignored errors:\s+(\d+)/.exec(report);
  if (!transactions || !p99) throw new Error(`no throughput or p99 latency in sysbench's report:\n${report.slice(-1500)}`);
  return { transactionsPerSecond: Number(transactions[1]), p99Ms: Number(p99[1]), errors: Number(errors?.[1] ?? 0) };
}

export const prepareTable = (endpoint: Endpoint, workload: Workload) => sysbench(endpoint, 'prepare', workload);
export const dropTable = (endpoint: Endpoint, workload: Workload) => sysbench(endpoint, 'cleanup', workload);
export const runWorkload = async (endpoint: Endpoint, workload: Workload) => parseReport(await sysbench(endpoint, 'run', workload));
