// Test harness: the sandbox's own cluster code (real mysqld from the MySQL 9.7 chroot or
// Debian's MariaDB, real agent processes, one loopback address per pod) plus helpers a
// test needs to look at it from the outside.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Connection, createConnection } from 'mysql2/promise';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { AGENT_PORT, MYSQL_PORT, SandboxCluster } from '../../agent/sandbox/cluster.ts';
import { SandboxPod } from '../../agent/sandbox/pod.ts';
import { runtimeFor } from '../../agent/sandbox/runtime.ts';

export async function waitFor<T>(description: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

export interface AgentAnswer {
  status: number;
  body: any;
}

export class TestPod extends SandboxPod {
  async agent(path: string): Promise<AgentAnswer> {
    const response = await fetch(`http://${this.spec.address}:${AGENT_PORT}${path}`, { signal: AbortSignal.timeout(3000) });
    const text = await response.text();
    return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  }

  async status(): Promise<any> {
    return (await this.agent('/status')).body;
  }

  /** root over the pod's own socket: the administrator's view, independent of the agent. */
  async root(): Promise<Connection> {
    return createConnection({ socketPath: this.paths.socket, user: 'root', password: '' });
  }

  async rootQuery<T = any>(sql: string, values?: unknown[]): Promise<T[]> {
    const connection = await this.root();
    try {
      const [rows] = await connection.query(sql, values);
      return rows as T[];
    } finally {
      await connection.end();
    }
  }

  /** The application account over TCP, as a client would connect. */
  async app(secret: string, database: string): Promise<Connection> {
    return createConnection({ host: this.spec.address, port: MYSQL_PORT, user: 'app', password: secret, database });
  }
}

export interface StartOptions {
  replicas?: number;
  /** Start the replicas' mysqld and agents this long before the primary's. */
  replicasFirstMs?: number;
  env?: Record<string, string>;
  /** Settings for one pod only, by pod name. */
  podEnv?: Record<string, Record<string, string>>;
  addressPrefix?: string;
  /** Start HAProxy in front, as `sandbox up` does. */
  haproxy?: boolean;
}

export class TestCluster {
  readonly sandbox: SandboxCluster;

  private constructor(sandbox: SandboxCluster) {
    this.sandbox = sandbox;
  }

  static async start(flavor: Flavor, options: StartOptions = {}): Promise<TestCluster> {
    const runtime = runtimeFor(flavor);
    if (!runtime.installed()) throw new Error(`${flavor} is not installed: run mysql-ha-agent sandbox install (see DEVELOPERS.md)`);
    const sandbox = new SandboxCluster({
      flavor,
      replicas: options.replicas ?? 3,
      dir: mkdtempSync(join(tmpdir(), `mysql-ha-${flavor}-`)),
      runtime,
      addressPrefix: options.addressPrefix,
      env: options.env,
      createPod: (spec, podRuntime) => new TestPod(spec, podRuntime),
    });
    const cluster = new TestCluster(sandbox);
    try {
      for (const pod of sandbox.pods) Object.assign(pod.spec.env, options.podEnv?.[pod.name] ?? {});
      await sandbox.checkAddressesFree(options.haproxy ?? false);
      await sandbox.prepare();
      await sandbox.startEtcd();
      if (options.replicasFirstMs) {
        sandbox.pods.slice(1).forEach((pod) => sandbox.startPod(pod));
        await new Promise((resolve) => setTimeout(resolve, options.replicasFirstMs));
      }
      sandbox.pods.forEach((pod) => sandbox.startPod(pod));
      if (options.haproxy) await sandbox.startHaproxy();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  get flavor(): Flavor {
    return this.sandbox.flavor;
  }

  get dir(): string {
    return this.sandbox.dir;
  }

  get secrets() {
    return this.sandbox.secrets;
  }

  get pods(): TestPod[] {
    return this.sandbox.pods as TestPod[];
  }

  get primary(): TestPod {
    return this.pods[0]!;
  }

  get replicas(): TestPod[] {
    return this.pods.slice(1);
  }

  async waitHealthy(timeoutMs = 90_000): Promise<void> {
    await this.sandbox.waitHealthy(timeoutMs);
    if (this.sandbox.haproxyPid !== undefined) await this.sandbox.waitHaproxySettled(30_000);
  }

  /** The pod whose agent answers /primary with 200. */
  async currentPrimary(timeoutMs = 60_000): Promise<TestPod> {
    return (await this.sandbox.primary(timeoutMs)) as TestPod;
  }

  async destroy(): Promise<void> {
    await Promise.all(
      this.pods.map(async (pod) => {
        await pod.stopAgent('SIGKILL');
        await pod.stopMysqld('SIGKILL');
      }),
    );
    await this.sandbox.stopHaproxy();
    await this.sandbox.stopEtcd();
    if (!process.env.KEEP_TEST_DATA) await this.sandbox.down(true);
  }
}
