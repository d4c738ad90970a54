import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgentError } from '../errors.ts';

// MariaDB has no clone plugin: a copy of another node is a mariadb-backup stream (mbstream format)
// that the donor's agent sends and the recipient's agent unpacks and prepares. Both tools come
// with Debian's mariadb-backup package, which must match the server's version.

/**
 * Where a recipient unpacks and prepares a copy: inside its data dir, the one place sure to be on
 * the same volume (a pod's data dir is its volume's mount point), so the copy is swapped in by
 * renaming. The server is told it is no database (ignore_db_dirs in the MariaDB cnf).
 */
export const COPY_DIR_NAME = '.mysql-ha-copy';

const BACKUP = 'mariadb-backup';
const MBSTREAM = 'mbstream';
/** What the backup tool says last is why it failed. */
const KEPT_STDERR_LINES = 15;
/** The position file's name before (10.x) and after (11.x) MariaDB renamed its backup metadata. */
const POSITION_FILES = ['mariadb_backup_binlog_info', 'xtrabackup_binlog_info'];
/** The backup's own metadata, not server data: removed from a prepared copy before it becomes a data dir. */
const METADATA = /^(mariadb_backup_|xtrabackup_|backup-my\.cnf$)/;

/** Whether the backup tools can run beside this agent. */
export function backupToolsInstalled(path = process.env.PATH ?? ''): boolean {
  const dirs = path.split(delimiter).filter(Boolean);
  return [BACKUP, MBSTREAM].every((tool) => dirs.some((dir) => existsSync(join(dir, tool))));
}

/** How the tool reaches the server it copies: the agent's own account. */
export interface BackupConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  dataDir: string;
}

/** A child process's last stderr lines, for the error when it fails. */
function stderrTail(child: ChildProcess): () => string {
  let lines: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    lines = [...lines, ...chunk.split('\n').filter(Boolean)].slice(-KEPT_STDERR_LINES);
  });
  return () => lines.join('\n');
}

async function exitOf(child: ChildProcess, what: string, stderr: () => string): Promise<void> {
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  if (code === 0) return;
  throw new AgentError('COPY_FAILED', `${what} failed (${signal ?? `exit code ${code}`}): ${stderr() || 'no output'}`);
}

function started(child: ChildProcess, tool: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) =>
      reject(new AgentError('COPY_FAILED', `cannot run ${tool} (${error.message}): install Debian's mariadb-backup package, of the server's version`)),
    );
  });
}

export interface BackupStream {
  /** The mbstream bytes; destroyed with the tool's error when it fails. */
  body: Readable;
}

/**
 * Starts `mariadb-backup --backup --stream=mbstream` on this node's server. The password goes
 * in a private defaults file, never on a command line; the file is removed when the tool ends.
 */
export async function startBackup(connection: BackupConnection): Promise<BackupStream> {
  const dir = await mkdtemp(join(tmpdir(), 'mysql-ha-backup-'));
  const defaults = join(dir, 'backup.cnf');
  const { host, port, user, password, dataDir } = connection;
  await writeFile(defaults, `[mariadb-backup]\nhost=${host}\nport=${port}\nuser=${user}\npassword=${password}\n`, { mode: 0o600 });
  const child = spawn(BACKUP, [`--defaults-file=${defaults}`, '--backup', '--stream=mbstream', `--target-dir=${dir}`, `--datadir=${dataDir}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = stderrTail(child);
  const cleanUp = () => rm(dir, { recursive: true, force: true });
  try {
    await started(child, BACKUP);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  const body = child.stdout!;
  exitOf(child, BACKUP, stderr)
    .catch((error: unknown) => body.destroy(error as Error))
    .finally(cleanUp);
  return { body };
}

/** Counts the bytes flowing through, reporting the running total. */
export function byteCounter(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}

/** Unpacks an mbstream into `dir` (which must exist and be empty). */
export async function unpackBackup(body: Readable, counter: Transform, dir: string): Promise<void> {
  const child = spawn(MBSTREAM, ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = stderrTail(child);
  await started(child, MBSTREAM);
  const exited = exitOf(child, MBSTREAM, stderr);
  try {
    await pipeline(body, counter, child.stdin!);
  } catch (error) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw error;
  }
  await exited;
}

/** Applies the redo log copied with the backup: the files become a consistent data dir. */
export async function prepareBackup(dir: string): Promise<void> {
  const child = spawn(BACKUP, ['--prepare', `--target-dir=${dir}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = stderrTail(child);
  await started(child, BACKUP);
  await exitOf(child, `${BACKUP} --prepare`, stderr);
}

/**
 * The GTID position the copy is consistent with (the donor's binary log position when the
 * backup ended), then the backup's metadata files removed: '' when the donor had logged nothing.
 */
export async function takeBackupPosition(dir: string): Promise<string> {
  const file = POSITION_FILES.map((name) => join(dir, name)).find((path) => existsSync(path));
  if (file === undefined) throw new AgentError('COPY_FAILED', `the copy in ${dir} has no ${POSITION_FILES.join(' or ')}: it is not a complete backup`);
  // "<binlog file>\t<position>\t<gtid list>"
  const [, , gtids = ''] = (await readFile(file, 'utf8')).trim().split('\t');
  for (const name of await readdir(dir)) if (METADATA.test(name)) await rm(join(dir, name), { force: true });
  return gtids.replace(/\s+/g, '');
}
