import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { HELD_FILE, HOLD_FILE } from '../mysql/mysqld-restart.ts';

const run = promisify(execFile);

export const DEFAULT_MYSQL_CHROOT = '/var/cache/mysql-ha-agent/mysql-sid';

/** How to initialise and start one flavour's mysqld on this machine. */
export interface ServerRuntime {
  flavor: Flavor;
  /** Argv that creates an empty data dir inside `podDir`. */
  initializeCommand(podDir: string, dataDir: string): string[];
  /** Argv that runs mysqld in the foreground; `podDir` holds everything it touches. */
  serverCommand(podDir: string, args: string[]): string[];
  /** Whether what this runtime needs is installed. */
  installed(): boolean;
}

/**
 * Oracle MySQL from a Debian sid chroot. mysqld runs chrooted in its own mount
 * namespace where the pod dir is bind-mounted at the same absolute path, so every path
 * (data dir, staged cnf, init_file, socket) means the same inside and out, and the mount
 * disappears with the process.
 */
export function mysqlChrootRuntime(chroot = process.env.MYSQL_HA_SANDBOX_CHROOT ?? DEFAULT_MYSQL_CHROOT): ServerRuntime {
  const inChroot = (podDir: string, run: (command: string) => string, argv: string[]): string[] => [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mkdir -p "$0$1" && mount --bind "$1" "$0$1" && shift || exit 1; ${run('chroot "$0" "$@"')}`,
    chroot,
    podDir,
    ...argv,
  ];
  const host = mysqlRuntime('/usr/sbin/mysqld');
  return {
    flavor: 'mysql',
    initializeCommand: (podDir, dataDir) => inChroot(podDir, (command) => `exec ${command}`, host.initializeCommand(podDir, dataDir)),
    serverCommand: (podDir, args) => inChroot(podDir, (command) => supervised(podDir, command), mysqldArgs('/usr/sbin/mysqld', args)),
    installed: () => existsSync(`${chroot}/usr/sbin/mysqld`),
  };
}

/**
 * Shell that runs `command` as mysqld's supervisor, as mysqld_safe and systemd do (and the
 * image's entrypoint): a clone ends with mysqld exiting 16 to be started again on the new data;
 * a streamed copy stops mysqld with a hold file beside its socket (the pod dir), and it starts
 * again once the agent has swapped the data in and removed the file.
 */
const supervised = (podDir: string, command: string) =>
  `export MYSQLD_PARENT_PID=$$; hold=${shellQuote(join(podDir, HOLD_FILE))}; held=${shellQuote(join(podDir, HELD_FILE))}; ` +
  `while :; do ${command}; rc=$?; ` +
  'if [ -e "$hold" ]; then : > "$held"; while [ -e "$hold" ]; do sleep 0.2; done; rm -f "$held"; continue; fi; [ $rc -eq 16 ] || exit $rc; done';

const shellQuote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

const mysqldArgs = (mysqld: string, args: string[]) => [mysqld, ...args, '--user=root', '--mysqlx=OFF', '--secure-file-priv='];

/** A MySQL mysqld binary that runs on this machine as it is (`sandbox up --mysqld PATH`). */
export function mysqlRuntime(mysqld: string): ServerRuntime {
  return {
    flavor: 'mysql',
    initializeCommand: (_podDir, dataDir) => [mysqld, '--no-defaults', '--initialize-insecure', `--datadir=${dataDir}`, '--user=root'],
    serverCommand: (podDir, args) => ['sh', '-c', supervised(podDir, '"$@"'), 'mysqld-supervisor', ...mysqldArgs(mysqld, args)],
    installed: () => existsSync(mysqld),
  };
}

/** MariaDB from Debian's own packages. */
export function mariadbRuntime(): ServerRuntime {
  return {
    flavor: 'mariadb',
    initializeCommand: (_podDir, dataDir) => [
      'mariadb-install-db',
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--user=root',
      // As in the image: root@localhost alone (no root@<host>, @127.0.0.1, @::1), which the init SQL locks.
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
    ],
    serverCommand: (podDir, args) => ['sh', '-c', supervised(podDir, '"$@"'), 'mysqld-supervisor', 'mariadbd', ...args, '--user=root'],
    installed: () => existsSync('/usr/sbin/mariadbd'),
  };
}

export function runtimeFor(flavor: Flavor): ServerRuntime {
  return flavor === 'mysql' ? mysqlChrootRuntime() : mariadbRuntime();
}

/** Runs a command to completion; a failure carries its stderr. */
export async function runCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [file, ...args] = argv;
  try {
    await run(file!, args, { env, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new AgentError('SANDBOX_COMMAND_FAILED', `${argv.slice(0, 3).join(' ')} failed: ${stderr?.trim() || (error as Error).message}`, { cause: error });
  }
}
