import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type Peer, statefulSetPeers } from '../config.ts';
import type { Logger } from '../log.ts';
import { describeApiFailure, kubernetesApiError } from './api-failure.ts';

export interface StatefulSetPeerSetOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  statefulSet: string;
  service: string;
  /** The peers until the first answer (from MYSQL_HA_REPLICAS). */
  initial: Peer[];
  logger: Logger;
}

/**
 * The cluster's pods as the StatefulSet's spec.replicas says, read through the API and kept
 * between reads: after `kubectl scale` a removed pod leaves every peer list (it never blocks
 * an election) and an added one joins them. A failed read keeps the last known list.
 */
export class StatefulSetPeerSet {
  readonly #api: AppsV1Api;
  readonly #options: StatefulSetPeerSetOptions;
  #peers: Peer[];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: StatefulSetPeerSetOptions) {
    this.#api = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#options = options;
    this.#peers = options.initial;
  }

  get current(): Peer[] {
    return this.#peers;
  }

  /** Reads now, then every `refreshMs` until stop(). */
  start(refreshMs: number): void {
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async refresh(): Promise<void> {
    const { namespace, statefulSet, service, logger } = this.#options;
    try {
      const read = await this.#api.readNamespacedStatefulSet({ name: statefulSet, namespace });
      // The API's default for an unset spec.replicas.
      const replicas = read.spec?.replicas ?? 1;
      if (replicas === this.#peers.length) return;
      this.#peers = statefulSetPeers(statefulSet, service, replicas);
      logger.info({ replicas, peers: this.#peers.map((peer) => peer.name) }, `StatefulSet ${namespace}/${statefulSet} has ${replicas} pods: peers updated`);
    } catch (error) {
      const failure = describeApiFailure(error);
      const problem = kubernetesApiError(
        `Kubernetes API: cannot read StatefulSet ${namespace}/${statefulSet} for its replica count (keeping ${this.#peers.length} peers): ${failure.message}`,
        failure,
        'get',
        'statefulsets',
        error,
      );
      logger.warn({ object: `statefulsets/${namespace}/${statefulSet}`, status: failure.status, code: problem.code }, problem.message);
    }
  }
}
