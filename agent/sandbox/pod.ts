import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError } from '../errors.ts';
import { CNF_FILE } from '../pod/stage.ts';
import { spawnLogged, stopProcess } from './process.ts';
import { runCommand, type ServerRuntime } from './runtime.ts';

export { isRunning, stopProcess } from './process.ts';

// The CLI next to this module: agent/cli.ts from a checkout, dist/agent/cli.js once built.
const CLI = fileURLToPath(new URL(`../cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Where a pod's mysqld listens on its address (as in a pod: the same port on every pod). */
export const MYSQL_PORT = 3306;
/** Where a pod's agent serves HTTP on its address. */
export const AGENT_PORT = 8080;

export interface SandboxPodSpec {
  name: string;
  /** Loopback address of its own: mysqld on MYSQL_PORT (or the given port), the agent on AGENT_PORT. */
  address: string;
  /** Absolute directory holding the pod's data, config, sockets and logs. */
  dir: string;
  /** The environment the agent gets, as a pod would from its manifest. */
  env: Record<string, string>;
  /**
   * Optional argv put in front of the agent's own command (`node cli run`), for a wrapper that
   * sets up the agent's surroundings and then execs its arguments, e.g. `unshare --mount ... sh
   * -c '...; exec "$@"' sh`: the e2e test of the Kubernetes lease backend runs each agent in a
   * mount namespace of its own this way, with a service-account directory where a pod has one.
   * The wrapper must exec (not fork) the agent, so that the pid and process group recorded
   * for the agent are the agent's. Default: none, the agent is started directly. Not saved in
   * cluster.json: a sandbox reattached by the CLI starts its agents directly.
   */
  agentCommandPrefix?: string[];
  /** The agent's script: default the CLI beside this module; the benchmark runs the image's bundle. Not saved in cluster.json either. */
  agentEntry?: string;
}

/**
 * Node.js options the agent runs with, here and in the image (Dockerfile.agent's NODE_OPTIONS):
 * a 1 MiB young generation and a 128 MiB old one (half the container's 256Mi limit; the agent
 * holds 25-30 MiB). Without a limit V8 sizes its heap by the machine and keeps freed pages:
 * measured in containers, 30 MiB more RSS on MySQL pods.
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=128';

/** One simulated pod: a real mysqld and a real agent process on their own loopback address. */
export class SandboxPod {
  readonly spec: SandboxPodSpec;
  readonly runtime: ServerRuntime;
  mysqldPid: number | undefined;
  agentPid: number | undefined;

  constructor(spec: SandboxPodSpec, runtime: ServerRuntime) {
    this.spec = spec;
    this.runtime = runtime;
  }

  get name(): string {
    return this.spec.name;
  }

  get paths() {
    const dir = this.spec.dir;
    return {
      data: join(dir, 'data'),
      confDir: join(dir, 'conf.d'),
      initDir: join(dir, 'init'),
      socket: join(dir, 'mysqld.sock'),
      mysqldLog: join(dir, 'mysqld.log'),
      agentLog: join(dir, 'agent.log'),
      /** The pod's certificate, its key and the CA's (MYSQL_HA_TLS_DIR). */
      tls: join(dir, 'tls'),
    };
  }

  /** The administrator's password: the file the pod's stage step reads it from. */
  get adminPassword(): string {
    return this.#secret('MYSQL_HA_ADMIN_PASSWORD_FILE');
  }

  /** The CA that signed the pod's certificate (MYSQL_HA_TLS_DIR), or undefined without one. */
  get caFile(): string | undefined {
    const dir = this.spec.env.MYSQL_HA_TLS_DIR;
    return dir === undefined ? undefined : join(dir, 'ca.crt');
  }

  /** The agents' token: the file the pod's agent reads it from. */
  get switchoverToken(): string {
    return this.#secret('MYSQL_HA_SWITCHOVER_TOKEN_FILE');
  }

  #secret(variable: string): string {
    const file = this.spec.env[variable];
    if (!file) throw new AgentError('SANDBOX_START_FAILED', `${this.name}: no ${variable} in its environment`);
    return readFileSync(file, 'utf8');
  }

  /** The init container's step: the real `mysql-ha-agent stage`. */
  async stage(): Promise<void> {
    const { confDir, initDir } = this.paths;
    await runCommand([process.execPath, CLI, 'stage', '--conf-dir', confDir, '--init-dir', initDir], { ...process.env, ...this.spec.env });
  }

  /** Creates the data dir on first start; later starts reuse it. */
  async initialize(): Promise<void> {
    mkdirSync(this.spec.dir, { recursive: true });
    if (existsSync(join(this.paths.data, 'mysql'))) return;
    // A temp dir of its own: pods initialised side by side must not share temporary table names.
    const tmp = join(this.spec.dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    await runCommand(this.runtime.initializeCommand(this.spec.dir, this.paths.data), { ...process.env, TMPDIR: tmp });
  }

  startMysqld(port = MYSQL_PORT): void {
    const { confDir, data, socket, mysqldLog } = this.paths;
    const argv = this.runtime.serverCommand(this.spec.dir, [
      `--defaults-file=${join(confDir, CNF_FILE)}`,
      `--datadir=${data}`,
      `--bind-address=${this.spec.address}`,
      `--port=${port}`,
      `--socket=${socket}`,
      `--pid-file=${join(this.spec.dir, 'mysqld.pid')}`,
      `--log-error=${mysqldLog}`,
    ]);
    this.mysqldPid = this.#spawn(argv, mysqldLog, {});
  }

  startAgent(): void {
    const argv = [...(this.spec.agentCommandPrefix ?? []), process.execPath, this.spec.agentEntry ?? CLI, 'run'];
    this.agentPid = this.#spawn(argv, this.paths.agentLog, { NODE_OPTIONS: AGENT_NODE_OPTIONS, ...this.spec.env });
  }

  /** The documented fix for a node with errant transactions: an empty data dir, filled again from the primary. */
  async rebuild(): Promise<void> {
    await this.stopMysqld('SIGKILL');
    rmSync(this.paths.data, { recursive: true, force: true });
    await this.initialize();
    this.startMysqld();
  }

  /** Sends `signal` to mysqld and waits until it is gone. */
  async stopMysqld(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProcess(this.mysqldPid, signal);
    this.mysqldPid = undefined;
  }

  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProcess(this.agentPid, signal);
    this.agentPid = undefined;
  }

  #spawn(argv: string[], logFile: string, env: Record<string, string>): number {
    const [file, ...args] = argv;
    // Detached: a sandbox outlives the command that started it.
    const pid = spawnLogged(file!, args, logFile, env);
    if (pid === undefined) throw new AgentError('SANDBOX_START_FAILED', `${this.name}: cannot start ${file}`);
    return pid;
  }
}
