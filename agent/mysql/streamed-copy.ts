import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Peer } from '../config.ts';
import { AgentError, messageOf } from '../errors.ts';
import type { AgentClient } from '../http/agent-client.ts';
import type { BackupSource } from '../http/app.ts';
import type { Logger } from '../log.ts';
import type { CopyProgress } from '../loop/snapshot.ts';
import type { Dialect, Statement } from './dialect/types.ts';
import {
  type BackupConnection,
  backupToolsInstalled,
  byteCounter,
  COPY_DIR_NAME,
  prepareBackup,
  startBackup,
  takeBackupPosition,
  unpackBackup,
} from './mariadb-backup.ts';
import { restartMysqld } from './mysqld-restart.ts';

/** The donor's binary log state when its backup began (a header of GET /backup): with the backup's position, what the copy has executed. */
export const GTID_STATE_HEADER = 'x-mysql-ha-gtid-binlog-state';
/** Why a MariaDB node can neither give nor take a copy. */
export const NO_BACKUP_TOOLS =
  "mariadb-backup and mbstream are not installed beside this agent: install Debian's mariadb-backup package, of the server's version";
/** Why this node cannot take a copy of another's (null: it can, by clone or a streamed backup). */
export function copyUnavailableReason(dialect: Pick<Dialect, 'cloneFrom' | 'adoptCopiedGtids' | 'flavor'>): string | null {
  if (dialect.cloneFrom !== null) return null;
  if (dialect.adoptCopiedGtids === null) return `${dialect.flavor} has no way to copy another server`;
  return backupToolsInstalled() ? null : NO_BACKUP_TOOLS;
}

/** A copy may run for hours; a stalled one is ended by the HTTP client's idle timeout instead. */
const COPY_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** The running byte count is published at most this often. */
const PROGRESS_EVERY_MS = 1000;

type CopyStage = CopyProgress['stage'];

export interface StreamedCopyOptions {
  /** This node's name, for messages. */
  node: string;
  /** This node's mysqld, as the agent's account. */
  server: { query(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]> };
  client: AgentClient;
  agentPort: number;
  token: string | null;
  /** The statements that make a restarted server know what the copy has executed (the dialect's). */
  adoptGtids: (donorState: string, position: string) => Statement[];
}

/**
 * MariaDB's reinit: this node's data replaced with a copy streamed from a donor's agent (GET
 * /backup, mariadb-backup's mbstream), prepared inside the data dir, swapped in while mysqld is
 * stopped and held by its supervisor, then told its GTID position. The old data stays in place
 * until the copy is complete and prepared.
 */
export class StreamedCopy {
  readonly #options: StreamedCopyOptions;

  constructor(options: StreamedCopyOptions) {
    this.#options = options;
  }

  async copyFrom(donor: Peer, report: (progress: CopyProgress) => void): Promise<void> {
    const { node, server, client, agentPort, token } = this.#options;
    const [paths] = await server.query('SELECT @@datadir AS dataDir');
    const dataDir = String(paths!.dataDir).replace(/\/+$/, '');
    const copyDir = join(dataDir, COPY_DIR_NAME);
    await rm(copyDir, { recursive: true, force: true });
    await mkdir(copyDir, { recursive: true });
    let lastReport = 0;
    const progress = (stage: CopyStage, bytes: number) => report({ stage, donor: donor.name, bytes });
    progress('receiving', 0);
    let received = 0;
    let gtidState: string;
    try {
      const response = await client.request(`${client.url(donor.host, agentPort)}/backup`, { token, timeoutMs: COPY_TIMEOUT_MS });
      if (!response.ok || response.body === null) {
        const answer = (await response.json().catch(() => ({}))) as { reason?: string };
        throw new AgentError('COPY_FAILED', `${node}: ${donor.name} sent no copy (${response.status}: ${answer.reason ?? 'no reason given'})`);
      }
      gtidState = response.headers.get(GTID_STATE_HEADER) ?? '';
      const counter = byteCounter((total) => {
        received = total;
        if (Date.now() - lastReport < PROGRESS_EVERY_MS) return;
        lastReport = Date.now();
        progress('receiving', total);
      });
      await unpackBackup(Readable.fromWeb(response.body as WebReadableStream), counter, copyDir).catch((error: unknown) => {
        throw new AgentError(
          'COPY_FAILED',
          `${node}: the copy from ${donor.name} broke off after ${received} bytes: ${messageOf(error)}; see ${donor.name}'s log`,
          {
            cause: error,
          },
        );
      });
      progress('preparing', received);
      await prepareBackup(copyDir);
    } catch (error) {
      await rm(copyDir, { recursive: true, force: true });
      throw error;
    }
    const position = await takeBackupPosition(copyDir);
    progress('restarting', received);
    // Contents, not the directory: a data dir is often a volume's mount point.
    await restartMysqld(node, server, async () => {
      for (const name of await readdir(dataDir)) if (name !== COPY_DIR_NAME) await rm(join(dataDir, name), { recursive: true, force: true });
      for (const name of await readdir(copyDir)) await rename(join(copyDir, name), join(dataDir, name));
      await rm(copyDir, { recursive: true, force: true });
    });
    for (const { sql, values } of this.#options.adoptGtids(gtidState, position)) await server.query(sql, values);
  }
}

export interface BackupDonorOptions {
  node: string;
  /** This node's mysqld and its dialect, once the agent has found them (null before). */
  server: () => { query(sql: string): Promise<Record<string, unknown>[]>; dialect: Dialect } | null;
  connection: Omit<BackupConnection, 'dataDir'>;
  log: Logger;
}

/** The donor's side of a streamed copy: GET /backup's answer. */
export function backupDonor({ node, server, connection, log }: BackupDonorOptions): BackupSource {
  return {
    async open() {
      const local = server();
      if (local === null) return { ok: false, reason: `${node}: the agent has not reached its mysqld yet` };
      if (local.dialect.adoptCopiedGtids === null)
        return { ok: false, reason: `${node}: ${local.dialect.flavor} copies with the clone plugin, not a backup stream` };
      if (!backupToolsInstalled()) return { ok: false, reason: `${node}: ${NO_BACKUP_TOOLS}` };
      try {
        const [variables] = await local.query(local.dialect.variablesQuery);
        const [paths] = await local.query('SELECT @@datadir AS dataDir');
        const gtidState = local.dialect.parseVariables(variables!).gtidExecuted;
        const { body } = await startBackup({ ...connection, dataDir: String(paths!.dataDir) });
        log.info({ gtidState }, 'sending a copy of this node (mariadb-backup) to a reinit');
        let bytes = 0;
        body.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        body.once('end', () => log.info({ bytes }, 'copy sent'));
        body.once('error', (error) => log.warn({ bytes, error: messageOf(error) }, 'sending a copy failed'));
        return { ok: true, gtidState, body };
      } catch (error) {
        return { ok: false, reason: `${node}: cannot start a backup: ${messageOf(error)}` };
      }
    },
  };
}
