import { spawn } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AgentError } from '../errors.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { DEFAULT_MYSQL_CHROOT } from './runtime.ts';

export interface Prerequisites {
  flavors: Flavor[];
  haproxy?: boolean;
  etcd?: boolean;
  /** What the tests use besides servers: kubectl (kustomize), openssl (certificates), unshare (mount namespaces). */
  testTools?: boolean;
  /** debootstrap, which makes the container base images. */
  debootstrap?: boolean;
  /** A command-line SQL client (`sandbox sql`): Debian's mariadb-client, which speaks to MySQL too. */
  sqlClient?: boolean;
  /** sysbench, the benchmark's write workload. */
  loadGenerator?: boolean;
}

type Progress = (line: string) => void;

export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, command)));
}

/** Runs a command with its output shown, so a long install is visibly alive. */
function runVisible(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new AgentError('SANDBOX_COMMAND_FAILED', `${argv.join(' ')} exited with ${code}`))));
  });
}

/** Debian packages each prerequisite comes from, and how to tell it is there. */
function missingPackages(needs: Prerequisites, chroot: string): string[] {
  const wanted: Array<[boolean, boolean, string]> = [
    [needs.flavors.includes('mariadb'), existsSync('/usr/sbin/mariadbd') && onPath('mariadb-install-db'), 'mariadb-server'],
    // A MariaDB reinit streams a copy between agents with these (mariadb-backup, mbstream).
    [needs.flavors.includes('mariadb'), onPath('mariadb-backup') && onPath('mbstream'), 'mariadb-backup'],
    [needs.flavors.includes('mysql') && !existsSync(`${chroot}/usr/sbin/mysqld`), onPath('debootstrap'), 'debootstrap'],
    [needs.flavors.includes('mysql'), onPath('unshare'), 'util-linux'],
    [needs.debootstrap ?? false, onPath('debootstrap'), 'debootstrap'],
    [needs.haproxy ?? false, onPath('haproxy'), 'haproxy'],
    // The sandbox's certificates.
    [needs.flavors.length > 0, onPath('openssl'), 'openssl'],
    [needs.etcd ?? false, onPath('etcd'), 'etcd-server'],
    [needs.testTools ?? false, onPath('kubectl'), 'kubernetes-client'],
    [needs.testTools ?? false, onPath('unshare'), 'util-linux'],
    // promtool checks the alert rules and the dashboard's queries.
    [needs.testTools ?? false, onPath('promtool'), 'prometheus'],
    [needs.sqlClient ?? false, onPath('mariadb') || onPath('mysql'), 'mariadb-client'],
    [needs.loadGenerator ?? false, onPath('sysbench'), 'sysbench'],
  ];
  return [...new Set(wanted.filter(([needed, present]) => needed && !present).map(([, , pkg]) => pkg))];
}

/**
 * Installs what the sandbox and the tests need and is not there yet: Debian packages,
 * and Oracle MySQL from a Debian sid chroot (cached outside the project, reused).
 */
export async function ensurePrerequisites(
  needs: Prerequisites,
  progress: Progress,
  chroot = process.env.MYSQL_HA_SANDBOX_CHROOT ?? DEFAULT_MYSQL_CHROOT,
): Promise<void> {
  const packages = missingPackages(needs, chroot);
  if (packages.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new AgentError(
        'SANDBOX_PREREQUISITES_MISSING',
        `missing Debian packages: ${packages.join(' ')}; run as root or install them with apt-get install ${packages.join(' ')}`,
      );
    }
    progress(`installing Debian packages: ${packages.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await runVisible(['apt-get', 'update', '-q'], env);
    await runVisible(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages], env);
  }
  if (needs.flavors.includes('mysql') && !existsSync(`${chroot}/usr/sbin/mysqld`)) {
    if (process.getuid?.() !== 0)
      throw new AgentError('SANDBOX_PREREQUISITES_MISSING', `MySQL 9.7 is not installed in ${chroot}; run as root once to create it`);
    progress(`installing Oracle MySQL from Debian sid into ${chroot} (about 560 MB, a minute; done once)`);
    const partial = `${chroot}.partial`;
    rmSync(partial, { recursive: true, force: true });
    await runVisible(['debootstrap', '--variant=minbase', '--include=mysql-server-core', 'sid', partial]);
    // Renamed only when complete: an interrupted install is never mistaken for a good one.
    renameSync(partial, chroot);
  }
}
