import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { assertPortsFree, waitFor } from './probes.ts';
import { isRunning, SandboxService, spawnLogged } from './process.ts';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** A one-member etcd (Debian's etcd-server) for the agents' lease; its data stays in DIR/etcd, its log in DIR/etcd.log. */
export class EtcdProcess extends SandboxService {
  /** The client URL the agents keep their lease at. */
  get endpoint(): string {
    return `http://${this.address}:${ETCD_CLIENT_PORT}`;
  }

  async assertAddressFree(): Promise<void> {
    await assertPortsFree({ name: 'etcd', address: this.address }, [ETCD_CLIENT_PORT, ETCD_PEER_PORT]);
  }

  /** Starts etcd and waits until it answers /health (fails at once if it exits). */
  async start(timeoutMs = 30_000): Promise<void> {
    const peer = `http://${this.address}:${ETCD_PEER_PORT}`;
    this.pid = spawnLogged(
      'etcd',
      [
        '--name',
        'sandbox',
        '--data-dir',
        join(this.dir, 'etcd'),
        '--listen-client-urls',
        this.endpoint,
        '--advertise-client-urls',
        this.endpoint,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `sandbox=${peer}`,
      ],
      join(this.dir, 'etcd.log'),
    );
    const failed = () => new AgentError('SANDBOX_START_FAILED', `etcd did not start at ${this.endpoint} (see ${this.dir}/etcd.log)`);
    const outcome = await waitFor(
      `etcd at ${this.endpoint}`,
      async () => ((await this.#healthy()) ? 'up' : isRunning(this.pid) ? undefined : 'exited'),
      timeoutMs,
      { intervalMs: 100, timeoutError: failed },
    );
    if (outcome === 'exited') throw failed();
  }

  #healthy(): Promise<boolean> {
    return fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.ok,
      () => false,
    );
  }
}
