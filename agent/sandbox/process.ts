import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/**
 * Starts a detached process logging to `logFile`: it outlives the command that started it
 * (a sandbox keeps running after `sandbox up` exits) and leads its own process group.
 */
export function spawnLogged(command: string, args: string[], logFile: string, env: Record<string, string> = {}): number | undefined {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  closeSync(log);
  child.unref();
  return child.pid;
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

/** A service the sandbox runs beside the pods (etcd, HAProxy): one process, on its own address, with its files in `dir`. */
export class SandboxService {
  readonly address: string;
  readonly dir: string;
  pid: number | undefined;

  constructor(address: string, dir: string) {
    this.address = address;
    this.dir = dir;
  }

  async stop(): Promise<void> {
    await stopProcess(this.pid, 'SIGTERM');
    this.pid = undefined;
  }
}
