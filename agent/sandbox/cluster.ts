import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { escape } from 'mysql2';
import { createConnection } from 'mysql2/promise';
import { messageOf, rootMessageOf } from '../errors.ts';
import { haproxyDefaults, renderHaproxyConfig } from '../haproxy/config.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { planCluster, readOrWriteSecrets, type SecretName } from './plan.ts';
import { assertPortsFree, isRunning, SandboxPod, type SandboxPodSpec, stopProcess } from './pod.ts';
import { runCommand, type ServerRuntime } from './runtime.ts';

export const AGENT_PORT = 8080;
export const MYSQL_PORT = 3306;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const ADMIN_USER = 'admin';

/** DIR/cluster.json: everything needed to reach and control a sandbox (mode 0600: it holds passwords). */
export interface ClusterFile {
  flavor: Flavor;
  version: string | null;
  addressPrefix: string;
  pods: Array<{ name: string; mysql: { host: string; port: number }; agent: string; pid: { mysqld: number | null; agent: number | null } }>;
  haproxy: { write: { host: string; port: number }; read: { host: string; port: number }; stats: string; pid: number | null };
  etcd: { endpoint: string; pid: number | null };
  app: { user: string; password: string; database: string };
  admin: { user: string; password: string };
  /** Bearer token for POST /switchover, /pause and /resume (MYSQL_HA_SWITCHOVER_TOKEN). */
  switchoverToken: string;
}

export interface SandboxOptions {
  flavor: Flavor;
  replicas: number;
  /** Absolute directory of the sandbox. */
  dir: string;
  runtime: ServerRuntime;
  addressPrefix?: string;
  /** Extra agent settings for every pod. */
  env?: Record<string, string>;
  /** Builds each pod (tests pass a subclass with helpers). */
  createPod?: (spec: SandboxPodSpec, runtime: ServerRuntime) => SandboxPod;
}

/** A whole cluster on one machine: N pods (mysqld + agent) and HAProxy in front. */
export class SandboxCluster {
  readonly options: SandboxOptions;
  readonly pods: SandboxPod[];
  readonly secrets: Record<SecretName, string>;
  readonly haproxyAddress: string;
  /** etcd, where the agents keep their leader lease. */
  readonly etcdAddress: string;
  haproxyPid: number | undefined;
  etcdPid: number | undefined;
  version: string | null = null;

  constructor(options: SandboxOptions) {
    this.options = { ...options, dir: resolve(options.dir) };
    const prefix = options.addressPrefix ?? '127.0.10.';
    mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    const secretFiles = readOrWriteSecrets(this.options.dir);
    this.secrets = Object.fromEntries(Object.entries(secretFiles).map(([name, file]) => [name, readFileSync(file, 'utf8')])) as Record<SecretName, string>;
    const createPod = options.createPod ?? ((spec, runtime) => new SandboxPod(spec, runtime));
    this.haproxyAddress = `${prefix}100`;
    this.etcdAddress = `${prefix}200`;
    this.pods = planCluster({ ...this.options, addressPrefix: prefix, etcdEndpoint: this.etcdEndpoint }, secretFiles).map((spec) =>
      createPod(spec, options.runtime),
    );
  }

  get etcdEndpoint(): string {
    return `http://${this.etcdAddress}:${ETCD_CLIENT_PORT}`;
  }

  get dir(): string {
    return this.options.dir;
  }

  get flavor(): Flavor {
    return this.options.flavor;
  }

  pod(name: string): SandboxPod {
    const pod = this.pods.find((candidate) => candidate.name === name);
    if (!pod) throw new Error(`no pod named ${name} in this sandbox (pods: ${this.pods.map((p) => p.name).join(', ')})`);
    return pod;
  }

  /** The pod whose agent answers /primary with 200 (the lease holder), once there is one. */
  async primary(timeoutMs = 30_000): Promise<SandboxPod> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answers = await Promise.all(this.pods.map((pod) => agentGet(pod, '/primary')));
      const index = answers.findIndex((answer) => answer.status === 200);
      if (index >= 0) return this.pods[index]!;
      if (Date.now() > deadline)
        throw new Error(
          `no pod became primary within ${timeoutMs / 1000} s: ${answers.map((answer, i) => `${this.pods[i]!.name}: ${answer.reason}`).join('; ')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Refuses addresses another process holds, before anything is started. */
  async checkAddressesFree(withHaproxy: boolean): Promise<void> {
    for (const pod of this.pods) await assertPortsFree(pod.spec, [MYSQL_PORT, AGENT_PORT]);
    await assertPortsFree({ name: 'etcd', address: this.etcdAddress, dir: this.dir, env: {} }, [ETCD_CLIENT_PORT, ETCD_PEER_PORT]);
    if (withHaproxy) {
      const { writePort, readPort, statsPort } = haproxyDefaults;
      await assertPortsFree({ name: 'haproxy', address: this.haproxyAddress, dir: this.dir, env: {} }, [writePort, readPort, statsPort]);
    }
  }

  /** The init container's work for every pod, and data dirs on first start. */
  async prepare(): Promise<void> {
    await Promise.all(
      this.pods.map(async (pod) => {
        await pod.stage();
        await pod.initialize();
      }),
    );
  }

  startPod(pod: SandboxPod): void {
    if (!isRunning(pod.mysqldPid)) pod.startMysqld(MYSQL_PORT);
    if (!isRunning(pod.agentPid)) pod.startAgent();
  }

  async stopPod(pod: SandboxPod): Promise<void> {
    await pod.stopAgent('SIGTERM');
    await pod.stopMysqld('SIGTERM');
  }

  /** A one-member etcd (Debian's etcd-server) for the agents' lease; its data stays in DIR/etcd. */
  async startEtcd(timeoutMs = 30_000): Promise<void> {
    const peer = `http://${this.etcdAddress}:${ETCD_PEER_PORT}`;
    this.etcdPid = spawnLogged(
      'etcd',
      [
        '--name',
        'sandbox',
        '--data-dir',
        join(this.dir, 'etcd'),
        '--listen-client-urls',
        this.etcdEndpoint,
        '--advertise-client-urls',
        this.etcdEndpoint,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `sandbox=${peer}`,
      ],
      join(this.dir, 'etcd.log'),
    );
    const deadline = Date.now() + timeoutMs;
    while (
      !(await fetch(`${this.etcdEndpoint}/health`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.ok,
        () => false,
      ))
    ) {
      if (!isRunning(this.etcdPid) || Date.now() > deadline) throw new Error(`etcd did not start at ${this.etcdEndpoint} (see ${this.dir}/etcd.log)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stopEtcd(): Promise<void> {
    await stopProcess(this.etcdPid, 'SIGTERM');
    this.etcdPid = undefined;
  }

  get haproxyConfigPath(): string {
    return join(this.dir, 'haproxy.cfg');
  }

  /** Renders haproxy.cfg for these pods, checks it with `haproxy -c`, and starts HAProxy. */
  async startHaproxy(): Promise<void> {
    const config = renderHaproxyConfig({
      pods: this.pods.map((pod) => ({ name: pod.name, host: pod.spec.address })),
      bindAddress: this.haproxyAddress,
      generatedBy: 'mysql-ha-agent sandbox up',
    });
    writeFileSync(this.haproxyConfigPath, config);
    await runCommand(['haproxy', '-c', '-q', '-f', this.haproxyConfigPath]);
    this.haproxyPid = spawnLogged('haproxy', ['-db', '-f', this.haproxyConfigPath], join(this.dir, 'haproxy.log'));
  }

  /**
   * Until HAProxy agrees with the (healthy) agents. It counts every server as up at start
   * and needs `fall` failed checks to mark one down, so until then a write could reach a
   * replica (which refuses it: replicas are read-only); servers that failed their first
   * checks come back only on their next one.
   */
  async waitHaproxySettled(timeoutMs: number): Promise<void> {
    const url = `http://${this.haproxyAddress}:${haproxyDefaults.statsPort}/stats;csv`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const servers = await fetch(url, { signal: AbortSignal.timeout(1000) })
        .then(async (response) => parseStatsCsv(await response.text()))
        .catch(() => []);
      // Called once every agent is healthy: every pod readable, exactly one writable, the rest down for writes.
      const readable = servers.filter((server) => server.backend === 'mysql-readable');
      const write = servers.filter((server) => server.backend === 'mysql-primary');
      const settled =
        readable.length === this.pods.length &&
        readable.every((server) => server.status === 'UP') &&
        write.filter((server) => server.status === 'UP').length === 1 &&
        write.filter((server) => server.status === 'DOWN').length === this.pods.length - 1;
      if (settled) return;
      if (Date.now() > deadline)
        throw new Error(`HAProxy did not settle within ${timeoutMs / 1000} s: ${JSON.stringify(servers)} (see ${this.dir}/haproxy.log)`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async stopHaproxy(): Promise<void> {
    await stopProcess(this.haproxyPid, 'SIGTERM');
    this.haproxyPid = undefined;
  }

  /** Until every agent says healthy; on timeout the error lists what each agent reports. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answers = await Promise.all(this.pods.map((pod) => agentGet(pod, '/health')));
      if (answers.every((answer) => answer.status === 200)) return;
      if (Date.now() > deadline) {
        const why = answers.map((answer, i) => `  ${this.pods[i]!.name}: ${answer.reason}`).join('\n');
        throw new Error(`the cluster did not become healthy within ${timeoutMs / 1000} s:\n${why}\nlogs: ${this.dir}/<pod>/{agent,mysqld}.log`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The sandbox's administrator: every privilege on every pod, created on the primary so it replicates. */
  async ensureAdmin(primary: SandboxPod): Promise<void> {
    const connection = await createConnection({ socketPath: primary.paths.socket, user: 'root', password: '' });
    try {
      const account = `${escape(ADMIN_USER)}@'%'`;
      await connection.query(`CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${escape(this.secrets.admin)}`);
      await connection.query(`GRANT ALL ON *.* TO ${account} WITH GRANT OPTION`);
      const [rows] = await connection.query('SELECT VERSION() AS version');
      this.version = String((rows as Array<{ version: string }>)[0]?.version);
    } finally {
      await connection.end();
    }
  }

  describe(): ClusterFile {
    const { writePort, readPort, statsPort } = haproxyDefaults;
    return {
      flavor: this.flavor,
      version: this.version,
      addressPrefix: this.options.addressPrefix ?? '127.0.10.',
      pods: this.pods.map((pod) => ({
        name: pod.name,
        mysql: { host: pod.spec.address, port: MYSQL_PORT },
        agent: `http://${pod.spec.address}:${AGENT_PORT}`,
        pid: { mysqld: pod.mysqldPid ?? null, agent: pod.agentPid ?? null },
      })),
      haproxy: {
        write: { host: this.haproxyAddress, port: writePort },
        read: { host: this.haproxyAddress, port: readPort },
        stats: `http://${this.haproxyAddress}:${statsPort}/stats`,
        pid: this.haproxyPid ?? null,
      },
      etcd: { endpoint: this.etcdEndpoint, pid: this.etcdPid ?? null },
      app: { user: 'app', password: this.secrets.app, database: 'app' },
      admin: { user: ADMIN_USER, password: this.secrets.admin },
      switchoverToken: this.secrets.switchover,
    };
  }

  save(): void {
    const file = join(this.dir, 'cluster.json');
    writeFileSync(file, `${JSON.stringify(this.describe(), null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }

  /** Stops every process this sandbox started; `purge` also deletes its data. */
  async down(purge: boolean): Promise<void> {
    await this.stopHaproxy();
    await Promise.all(this.pods.map((pod) => this.stopPod(pod)));
    await this.stopEtcd();
    if (purge) rmSync(this.dir, { recursive: true, force: true });
    else this.save();
  }

  /** Reattaches to a sandbox from its cluster.json. */
  static load(dir: string, runtime: (flavor: Flavor) => ServerRuntime): SandboxCluster {
    const file = join(resolve(dir), 'cluster.json');
    if (!existsSync(file)) throw new Error(`no sandbox in ${resolve(dir)} (no cluster.json); start one with mysql-ha-agent sandbox up --dir ${dir}`);
    let saved: ClusterFile;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
    } catch (error) {
      throw new Error(`cannot read ${file}: ${messageOf(error)}`);
    }
    const cluster = new SandboxCluster({
      flavor: saved.flavor,
      replicas: saved.pods.length,
      dir,
      runtime: runtime(saved.flavor),
      addressPrefix: saved.addressPrefix,
    });
    cluster.version = saved.version;
    cluster.haproxyPid = saved.haproxy.pid ?? undefined;
    cluster.etcdPid = saved.etcd?.pid ?? undefined;
    saved.pods.forEach((pod, i) => {
      cluster.pods[i]!.mysqldPid = pod.pid.mysqld ?? undefined;
      cluster.pods[i]!.agentPid = pod.pid.agent ?? undefined;
    });
    return cluster;
  }
}

/** Starts a detached process (it outlives the command that started it) logging to `logFile`. */
function spawnLogged(command: string, args: string[], logFile: string): number | undefined {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  return child.pid;
}

/** The server rows of HAProxy's CSV stats: which backend, which server, its state. */
function parseStatsCsv(csv: string): Array<{ backend: string; server: string; status: string }> {
  const [header, ...lines] = csv.trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  return lines
    .map((line) => line.split(','))
    .filter((cells) => cells[at('svname')] !== 'FRONTEND' && cells[at('svname')] !== 'BACKEND' && cells[at('pxname')]?.startsWith('mysql-'))
    .map((cells) => ({ backend: cells[at('pxname')]!, server: cells[at('svname')]!, status: cells[at('status')]! }));
}

export async function agentGet(pod: SandboxPod, path: string): Promise<{ status: number; reason: string; body: any }> {
  try {
    const response = await fetch(`http://${pod.spec.address}:${AGENT_PORT}${path}`, { signal: AbortSignal.timeout(2000) });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, reason: String((body as { reason?: string }).reason ?? response.statusText), body };
  } catch (error) {
    return { status: 0, reason: `agent unreachable: ${rootMessageOf(error)}`, body: null };
  }
}
