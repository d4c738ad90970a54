import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CNF_FILE } from '../pod/stage.ts';
import { runCommand, type ServerRuntime } from './runtime.ts';

// The CLI next to this module: agent/cli.ts from a checkout, dist/agent/cli.js once built.
const CLI = fileURLToPath(new URL(`../cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export interface SandboxPodSpec {
  name: string;
  /** Loopback address of its own: mysqld on :3306 (or the given port), the agent on :8080. */
  address: string;
  /** Absolute directory holding the pod's data, config, sockets and logs. */
  dir: string;
  /** The environment the agent gets, as a pod would from its manifest. */
  env: Record<string, string>;
}

/** Node.js options the agent runs with, here and in the image (Dockerfile.agent's NODE_OPTIONS). */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1';

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
    };
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

  startMysqld(port = 3306): void {
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
    this.agentPid = this.#spawn([process.execPath, CLI, 'run'], this.paths.agentLog, { NODE_OPTIONS: AGENT_NODE_OPTIONS, ...this.spec.env });
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
    const log = openSync(logFile, 'a');
    // Detached: a sandbox outlives the command that started it.
    const child = spawn(file!, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
    closeSync(log);
    child.unref();
    if (child.pid === undefined) throw new Error(`${this.name}: cannot start ${file}`);
    return child.pid;
  }
}

/** Resolves true when something accepts connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Refuses to start on an address another process already serves (a leftover sandbox, say). */
export async function assertPortsFree(pod: SandboxPodSpec, ports: number[]): Promise<void> {
  for (const port of ports) {
    if (await listening(pod.address, port)) {
      throw new Error(
        `${pod.name}: ${pod.address}:${port} is already in use; stop whatever listens there (another sandbox? mysql-ha-agent sandbox down) or use other addresses`,
      );
    }
  }
}

export function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals a sandbox process with everything it started (each is spawned detached, so it
 * leads its own process group: mysqld's supervisor shell and mysqld go together), and
 * waits until all of them are gone (SIGKILL after 30 s).
 */
export async function stopProcess(pid: number | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!isRunning(pid)) return;
  const group = -pid!;
  process.kill(group, signal);
  const deadline = Date.now() + 30_000;
  while (isRunning(group)) {
    if (Date.now() > deadline) process.kill(group, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
