// The Docker Engine adapter: the docker CLI, run as a child process. Everything the images
// and the container sandbox do to Docker goes through here.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';
import { waitFor } from '../sandbox/probes.ts';

const run = promisify(execFile);

const DOCKERD_LOG = '/var/log/mysql-ha-dockerd.log';

/**
 * The docker client that can build with BuildKit. A newer client without the buildx plugin
 * refuses to (the machine's /usr/local/bin/docker here); Debian docker.io's own client builds
 * with the daemon's BuildKit, which build secrets need.
 */
function client(): string {
  const override = process.env.MYSQL_HA_DOCKER;
  if (override) return override;
  try {
    execFileSync('docker', ['buildx', 'version'], { stdio: 'ignore' });
    return 'docker';
  } catch {
    return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  }
}

let chosen: string | undefined;
const dockerCommand = () => {
  chosen ??= client();
  return chosen;
};

export interface DockerOptions {
  /** Return stderr after stdout (`docker logs` passes a container's stderr on as its own). */
  withStderr?: boolean;
}

/** Runs `docker ARGS` and returns its stdout, trimmed; a failure carries docker's stderr. */
export async function docker(args: string[], options: DockerOptions = {}): Promise<string> {
  const command = dockerCommand();
  try {
    const { stdout, stderr } = await run(command, args, { env: { ...process.env, DOCKER_BUILDKIT: '1' }, maxBuffer: 64 * 1024 * 1024 });
    return (options.withStderr ? `${stdout}${stderr}` : stdout).trim();
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new AgentError('DOCKER_FAILED', `docker ${args.slice(0, 2).join(' ')} failed: ${stderr?.trim() || (error as Error).message}`, { cause: error });
  }
}

/** `docker ARGS` with its output shown as it comes (builds take a while). */
export function dockerVisible(args: string[], stdin?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(dockerCommand(), args, { stdio: [stdin ? 'pipe' : 'ignore', 'inherit', 'inherit'], env: { ...process.env, DOCKER_BUILDKIT: '1' } });
    if (stdin && child.stdin) stdin.pipe(child.stdin);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new AgentError('DOCKER_FAILED', `docker ${args.slice(0, 2).join(' ')} exited with ${code} (its output is above)`)),
    );
  });
}

/** Whether `docker ARGS` succeeds (an image or a container exists, the daemon answers). */
export async function dockerSucceeds(args: string[]): Promise<boolean> {
  try {
    await docker(args);
    return true;
  } catch {
    return false;
  }
}

/**
 * Docker Engine, answering: installs Debian's docker.io when there is no dockerd, and starts
 * dockerd when none answers (its log in /var/log/mysql-ha-dockerd.log). Needs root for both.
 */
export async function ensureDockerEngine(progress: (line: string) => void): Promise<void> {
  if (await dockerSucceeds(['info'])) return;
  if (process.getuid?.() !== 0) {
    throw new AgentError('DOCKER_UNAVAILABLE', 'no Docker Engine answers, and only root can install or start one here');
  }
  if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) {
    progress('installing Debian docker.io (Docker Engine)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-q'], { env });
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'docker.io'], { env, maxBuffer: 64 * 1024 * 1024 });
    chosen = undefined;
  }
  progress(`starting dockerd (log: ${DOCKERD_LOG})`);
  const log = openSync(DOCKERD_LOG, 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  closeSync(log);
  await waitFor('dockerd to answer', () => dockerSucceeds(['info']), 60_000).catch((error) => {
    throw new AgentError('DOCKER_UNAVAILABLE', `dockerd did not answer within 60 s: read ${DOCKERD_LOG}`, { cause: error });
  });
}
