import { type Peer, readPeersFile } from '../config.ts';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * The cluster's pods as MYSQL_HA_PEERS_FILE lists them, read again every `refreshMs`: what the
 * StatefulSet's replica count is in Kubernetes, for the sandbox (`sandbox scale`). A file that
 * cannot be read, or that no longer lists this pod, keeps the last list and is logged once.
 */
export class PeersFile {
  readonly #path: string;
  readonly #self: string;
  readonly #logger: Logger;
  #peers: Peer[];
  #lastProblem: string | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(path: string, self: string, initial: Peer[], logger: Logger) {
    this.#path = path;
    this.#self = self;
    this.#peers = initial;
    this.#logger = logger;
  }

  get current(): Peer[] {
    return this.#peers;
  }

  start(refreshMs: number): void {
    this.#timer = setInterval(() => this.refresh(), refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  refresh(): void {
    try {
      const peers = readPeersFile(this.#path, this.#self);
      this.#lastProblem = null;
      if (JSON.stringify(peers) === JSON.stringify(this.#peers)) return;
      this.#peers = peers;
      this.#logger.info({ peers: peers.map((peer) => peer.name) }, `${this.#path} lists ${peers.length} pods: peers updated`);
    } catch (error) {
      const problem = messageOf(error);
      if (problem !== this.#lastProblem) this.#logger.warn({ peers: this.#peers.map((peer) => peer.name) }, `${problem}; keeping the last peers`);
      this.#lastProblem = problem;
    }
  }
}
