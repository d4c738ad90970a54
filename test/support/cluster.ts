// Test harness: real mysqld (MySQL 9.7 from the sid chroot, or Debian's MariaDB) and
// real agent processes, one loopback address per simulated pod.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import type { Flavor } from '../../agent/dialect/types.ts';
import { planCluster, writeSecrets, type SecretName } from '../../agent/sandbox/plan.ts';
import { assertPortsFree, SandboxPod } from '../../agent/sandbox/pod.ts';
import { runtimeFor } from '../../agent/sandbox/runtime.ts';

export const AGENT_PORT = 8080;

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
    return createConnection({ host: this.spec.address, port: 3306, user: 'app', password: secret, database });
  }
}

export interface StartOptions {
  replicas?: number;
  /** Start the replicas' mysqld and agents this long before the primary's. */
  replicasFirstMs?: number;
  env?: Record<string, string>;
  addressPrefix?: string;
}

export class TestCluster {
  readonly flavor: Flavor;
  readonly dir: string;
  readonly pods: TestPod[];
  readonly secrets: Record<SecretName, string>;

  private constructor(flavor: Flavor, dir: string, pods: TestPod[], secrets: Record<SecretName, string>) {
    this.flavor = flavor;
    this.dir = dir;
    this.pods = pods;
    this.secrets = secrets;
  }

  static async start(flavor: Flavor, options: StartOptions = {}): Promise<TestCluster> {
    const runtime = runtimeFor(flavor);
    if (!runtime.installed()) throw new Error(`${flavor} is not installed: run .ci/run's install steps (see DEVELOPERS.md)`);
    const dir = mkdtempSync(join(tmpdir(), `mysql-ha-${flavor}-`));
    const secretFiles = writeSecrets(dir);
    const specs = planCluster({ flavor, replicas: options.replicas ?? 3, dir, addressPrefix: options.addressPrefix, env: options.env }, secretFiles);
    const pods = specs.map((spec) => new TestPod(spec, runtime));
    const secrets = Object.fromEntries(Object.entries(secretFiles).map(([name, file]) => [name, readFileSync(file, 'utf8')])) as Record<SecretName, string>;
    const cluster = new TestCluster(flavor, dir, pods, secrets);
    try {
      for (const pod of pods) await assertPortsFree(pod.spec, [3306, AGENT_PORT]);
      await Promise.all(pods.map(async (pod) => {
        await pod.stage();
        await pod.initialize();
      }));
      const [primary, ...replicas] = pods;
      const boot = (pod: TestPod) => {
        pod.startMysqld();
        pod.startAgent();
      };
      if (options.replicasFirstMs) {
        replicas.forEach(boot);
        await new Promise((resolve) => setTimeout(resolve, options.replicasFirstMs));
        boot(primary!);
      } else {
        pods.forEach(boot);
      }
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  get primary(): TestPod {
    return this.pods[0]!;
  }

  get replicas(): TestPod[] {
    return this.pods.slice(1);
  }

  /** Until every pod's agent reports healthy; returns the time it took. */
  async waitHealthy(timeoutMs = 90_000): Promise<number> {
    const started = Date.now();
    for (const pod of this.pods) {
      await waitFor(`${pod.name} healthy`, async () => (await pod.agent('/health')).status === 200, timeoutMs);
    }
    return Date.now() - started;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.pods.map(async (pod) => {
      await pod.stopAgent('SIGKILL');
      await pod.stopMysqld('SIGKILL');
    }));
    if (!process.env.KEEP_TEST_DATA) rmSync(this.dir, { recursive: true, force: true });
  }
}
