// Test harness: the sandbox's own cluster code (real mysqld from the MySQL 9.7 chroot or
// Debian's MariaDB, real agent processes, one loopback address per pod) plus helpers a
// test needs to look at it from the outside.

import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Connection, createConnection } from 'mysql2/promise';
import type { AgentRequest } from '../../agent/http/agent-client.ts';
import type { AgentStatus } from '../../agent/http/status.ts';
import { fetchStatus } from '../../agent/http/status-client.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { agentClientOf, agentUrl } from '../../agent/sandbox/agents.ts';
import { MYSQL_PORT, SandboxCluster } from '../../agent/sandbox/cluster.ts';
import { parseStatsCsv } from '../../agent/sandbox/haproxy-process.ts';
import { SandboxPod } from '../../agent/sandbox/pod.ts';
import { adminConnection } from '../../agent/sandbox/probes.ts';
import { runtimeFor } from '../../agent/sandbox/runtime.ts';

export { waitFor } from '../../agent/sandbox/probes.ts';

/** One row of a query result, as mysql2 gives it: read its columns with String() or Number(). */
export type Row = Record<string, unknown>;

/** The rows of one query on an open connection. */
export async function queryRows<T extends object = Row>(connection: Connection, sql: string, values?: unknown[]): Promise<T[]> {
  const [rows] = await connection.query(sql, values);
  return rows as T[];
}

/** The first row of a query that must return one (a SELECT of variables, say). */
export function firstRow<T>(rows: T[], what: string): T {
  const row = rows[0];
  if (row === undefined) throw new Error(`no row for ${what}`);
  return row;
}

/**
 * Where a log file ends at one moment. A sandbox pod's logs are appended for as long as the
 * cluster lives, across every test of a suite: a test reads what was written after its mark.
 */
export class LogMark {
  readonly file: string;
  readonly offset: number;

  constructor(file: string) {
    this.file = file;
    this.offset = existsSync(file) ? statSync(file).size : 0;
  }

  /** Everything appended to the file since the mark. */
  text(): string {
    const size = existsSync(this.file) ? statSync(this.file).size : 0;
    if (size <= this.offset) return '';
    const buffer = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, this.offset);
    } finally {
      closeSync(fd);
    }
    return buffer.toString('utf8');
  }

  /** How many lines appended since the mark contain `what`. */
  count(what: string): number {
    return this.text()
      .split('\n')
      .filter((line) => line.includes(what)).length;
  }
}

export interface PodLogMarks {
  agent: LogMark;
  mysqld: LogMark;
}

export interface AgentAnswer {
  status: number;
  /** The parsed JSON document, or the text when the agent did not answer JSON. */
  body: unknown;
}

/** What a test needs of a pod to reach it: its agent's address and its server's socket. */
type ReachableByTests = abstract new (
  // biome-ignore lint/suspicious/noExplicitAny: a mixin's base takes whatever arguments its own class does
  ...args: any[]
) => {
  readonly name: string;
  readonly spec: { address: string };
  readonly paths: { socket: string };
  readonly adminPassword: string;
  readonly switchoverToken: string;
  /** With certificates: the CA an application verifies the server (and the agent) with. */
  readonly caFile?: string | undefined;
  /** The name its certificate gives the pod, when that is not its address. */
  readonly certificateName?: string | undefined;
};

/** A test's handles on a pod, whichever way it runs (processes or containers): its agent over HTTP, its server as the administrator and as the application. */
export function withTestClients<Base extends ReachableByTests>(base: Base) {
  abstract class PodWithClients extends base {
    /** https:// when the pod has a certificate. */
    get agentUrl(): string {
      return agentUrl(this);
    }

    /** GET `path` from the agent, as HAProxy or a probe would (no token). */
    agent(path: string): Promise<AgentAnswer> {
      return this.#ask(path, { timeoutMs: 3000 });
    }

    /** POST `path` (/switchover, /pause…) with the agents' token, as an operator would. */
    control(path: string, body: unknown = {}): Promise<AgentAnswer> {
      return this.#ask(path, { method: 'POST', token: this.switchoverToken, body, timeoutMs: 60_000 });
    }

    async #ask(path: string, request: AgentRequest): Promise<AgentAnswer> {
      const response = await agentClientOf(this).request(`${this.agentUrl}${path}`, request);
      const text = await response.text();
      return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
    }

    /** The agent's /status document; rejects when the agent cannot be reached or answers something else. */
    async status(): Promise<AgentStatus> {
      const answer = await fetchStatus(agentClientOf(this), this.agentUrl, 3000, this.switchoverToken);
      if (answer.status === null) throw new Error(`${this.name}: ${answer.unreachable}`);
      return answer.status;
    }

    /** The agent's /status, or undefined while it cannot be had (agent restarting, say). */
    async statusOrUndefined(): Promise<AgentStatus | undefined> {
      return this.status().catch(() => undefined);
    }

    /** The administrator over the pod's own socket (root is locked): a person's view, independent of the agent. */
    admin(): Promise<Connection> {
      return adminConnection(this);
    }

    async adminQuery<T extends object = Row>(sql: string, values?: unknown[]): Promise<T[]> {
      const connection = await this.admin();
      try {
        return await queryRows<T>(connection, sql, values);
      } finally {
        await connection.end();
      }
    }

    /** The one row a query must return (a SELECT of variables, say), as the administrator. */
    async adminRow<T extends object = Row>(sql: string, values?: unknown[]): Promise<T> {
      return firstRow(await this.adminQuery<T>(sql, values), `${this.name}: ${sql}`);
    }

    /** The application account over TCP, as a client would connect: over TLS with the CA checked, where the pod has certificates. */
    async app(secret: string, database: string): Promise<Connection> {
      const ssl = this.caFile === undefined ? undefined : { ca: readFileSync(this.caFile, 'utf8') };
      return createConnection({ host: this.spec.address, port: MYSQL_PORT, user: 'app', password: secret, database, ...(ssl && { ssl }) });
    }
  }
  return PodWithClients;
}

export class TestPod extends withTestClients(SandboxPod) {
  /** Where this pod's agent and mysqld logs end now. */
  logMarks(): PodLogMarks {
    return { agent: new LogMark(this.paths.agentLog), mysqld: new LogMark(this.paths.mysqldLog) };
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
  /** A wrapper in front of every agent's command (SandboxPodSpec.agentCommandPrefix); default none. */
  agentCommandPrefix?: string[];
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
      createPod: (spec, podRuntime) => new TestPod(options.agentCommandPrefix ? { ...spec, agentCommandPrefix: options.agentCommandPrefix } : spec, podRuntime),
    });
    const cluster = new TestCluster(sandbox);
    try {
      for (const pod of sandbox.pods) Object.assign(pod.spec.env, options.podEnv?.[pod.name] ?? {});
      await sandbox.checkAddressesFree(options.haproxy ?? false);
      await sandbox.prepare();
      await sandbox.startEtcd();
      if (options.replicasFirstMs) {
        for (const pod of sandbox.pods.slice(1)) sandbox.startPod(pod);
        await new Promise((resolve) => setTimeout(resolve, options.replicasFirstMs));
      }
      for (const pod of sandbox.pods) sandbox.startPod(pod);
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

  /** What HAProxy's stats page says of a pod in a backend (UP, DOWN…). */
  async haproxyState(backend: 'mysql-primary' | 'mysql-readable', pod: TestPod): Promise<string | undefined> {
    const csv = await (await fetch(`${this.sandbox.describe().haproxy.stats};csv`, { signal: AbortSignal.timeout(2000) })).text();
    return parseStatsCsv(csv).find((server) => server.backend === backend && server.server === pod.name)?.status;
  }

  /** The pod whose agent answers /primary with 200. */
  async currentPrimary(timeoutMs = 60_000): Promise<TestPod> {
    return (await this.sandbox.primary(timeoutMs)) as TestPod;
  }

  /** The pods whose mysqld says it is writable (read_only off), asked as the administrator: the servers' own view, not the agents'. */
  async writable(pods: TestPod[] = this.pods): Promise<string[]> {
    const flags = await Promise.all(pods.map(async (pod) => ({ pod, row: await pod.adminRow('SELECT @@read_only AS readOnly') })));
    return flags.filter(({ row }) => Number(row.readOnly) === 0).map(({ pod }) => pod.name);
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
