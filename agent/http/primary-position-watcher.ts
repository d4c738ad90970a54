import pRetry from 'p-retry';
import type { Response } from 'undici';
import type { Peer } from '../config.ts';
import { AgentError, rootMessageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PrimaryGtidsProbe, PrimaryPosition, PrimaryPositionProbe } from '../loop/state.ts';
import type { AgentClient } from './agent-client.ts';

export interface PrimaryPositionWatcherOptions {
  client: AgentClient;
  agentPort: number;
  log: Logger;
  requestTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called when the primary's position arrives, so the loop can act on it at once. */
  onReady?: () => void;
}

/** The primary's position from its agent; the errors name the agent's URL (which names the primary). */
async function fetchPosition(client: AgentClient, url: string, timeoutMs: number): Promise<PrimaryPosition> {
  let response: Response;
  try {
    response = await client.request(url, { timeoutMs });
  } catch (error) {
    throw new AgentError('AGENT_UNREACHABLE', `${url} unreachable: ${rootMessageOf(error)}`, { cause: error });
  }
  const body = (await response.json().catch(() => ({}))) as Partial<PrimaryPosition> & { reason?: string };
  if (response.status !== 200) throw new AgentError('PRIMARY_NOT_READY', `${url} answered ${response.status}: ${body.reason ?? 'no reason given'}`);
  if (typeof body.gtidExecuted !== 'string' || typeof body.gtidPurged !== 'string') {
    throw new AgentError('PRIMARY_NOT_READY', `${url} answered without gtidExecuted and gtidPurged`);
  }
  return body as PrimaryPosition;
}

const positionUrl = (client: AgentClient, primary: Peer, agentPort: number) => `${client.url(primary.host, agentPort)}/binlog-position`;

/** The primary's executed GTIDs now, from its agent's /binlog-position, or why they cannot be had. */
export async function readPrimaryGtids(client: AgentClient, primary: Peer, agentPort: number, timeoutMs: number): Promise<PrimaryGtidsProbe> {
  try {
    const { gtidExecuted, serverUuid } = await fetchPosition(client, positionUrl(client, primary, agentPort), timeoutMs);
    return { state: 'known', gtidExecuted, serverUuid };
  } catch (error) {
    return { state: 'unknown', reason: rootMessageOf(error) };
  }
}

/**
 * Polls the primary's agent until it says it is ready, in the background so the loop
 * keeps observing meanwhile: exponential backoff, capped, never giving up, one log
 * line per failed attempt. The loop reads `probe()` as data.
 */
export class PrimaryPositionWatcher {
  readonly #options: PrimaryPositionWatcherOptions;
  #watch: { primary: Peer; abort: AbortController; probe: PrimaryPositionProbe } | undefined;

  constructor(options: PrimaryPositionWatcherOptions) {
    this.#options = options;
  }

  /** The latest answer for `primary`, starting to poll it if nobody asked yet. */
  probe(primary: Peer): PrimaryPositionProbe {
    if (this.#watch?.primary.name !== primary.name) this.#start(primary);
    return this.#watch!.probe;
  }

  /** Still waiting: ask again now, then back off afresh (a peer said something changed). */
  pollNow(): void {
    if (this.#watch?.probe.state === 'waiting') this.#start(this.#watch.primary);
  }

  /** Forget the answer (it was used, or is no longer needed); the next probe polls afresh. */
  reset(): void {
    this.#watch?.abort.abort();
    this.#watch = undefined;
  }

  #start(primary: Peer): void {
    this.reset();
    const { client, agentPort, log, requestTimeoutMs = 2000, minBackoffMs = 100, maxBackoffMs = 2000 } = this.#options;
    const url = positionUrl(client, primary, agentPort);
    const watch = {
      primary,
      abort: new AbortController(),
      probe: { state: 'waiting', attempts: 0, lastError: 'first attempt in progress' } as PrimaryPositionProbe,
    };
    this.#watch = watch;
    pRetry(() => fetchPosition(client, url, requestTimeoutMs), {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: minBackoffMs,
      maxTimeout: maxBackoffMs,
      // Gentle growth: a bootstrapping primary is usually ready within a second or two.
      factor: 1.5,
      signal: watch.abort.signal,
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        watch.probe = { state: 'waiting', attempts: attemptNumber, lastError: error.message };
        log.info({ primary: primary.name, attempt: attemptNumber, retryInMs: retryDelay, error: error.message }, 'primary not ready yet');
      },
    }).then(
      (position) => {
        watch.probe = { state: 'ready', position };
        log.info({ primary: primary.name, gtidExecuted: position.gtidExecuted }, 'primary is ready');
        this.#options.onReady?.();
      },
      () => undefined, // aborted by reset()
    );
  }
}
