import { rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log.ts';

/**
 * The agent's side of the pod's stop sequence. Kubernetes sends SIGTERM to every container of
 * a pod at once; the server container's preStop hook (images/mysql-pre-stop.sh) holds mysqld's
 * SIGTERM back until this file exists, so a terminating primary can hand over while its mysqld
 * still serves. Written when the agent has nothing left to do, and whenever it exits.
 */
export class MysqldMayStopFile {
  readonly #path: string | null;
  readonly #log: Logger;
  #written = false;

  constructor(path: string | null, log: Logger) {
    this.#path = path;
    this.#log = log;
  }

  /** At start-up: a file left by an earlier run of this container (the volume outlives it) would let mysqld stop too early. */
  clear(): void {
    if (this.#path !== null) rmSync(this.#path, { force: true });
  }

  /** Once, with the first reason; sync, so that it also works from an 'exit' handler. */
  write(reason: string): void {
    if (this.#path === null || this.#written) return;
    this.#written = true;
    try {
      writeFileSync(this.#path, `${reason}\n`);
    } catch (error) {
      // The hook then waits out its own limit: slower, never unsafe.
      this.#log.error({ file: this.#path, error: String(error) }, 'cannot tell the server container that mysqld may stop');
    }
  }
}
