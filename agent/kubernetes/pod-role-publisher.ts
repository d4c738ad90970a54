import { CoreV1Api, type CoreV1Event, type KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { PodEvent } from '../loop/events.ts';
import { describeApiFailure, kubernetesApiError } from './api-failure.ts';
import { type PodRole, roleChangedReason, roleLabelKey } from './role-label.ts';

export interface PodRolePublisher {
  /**
   * Keeps this pod's role label at `role`, and records an Event on the pod when the
   * value changes. As the primary, `previousPrimary` (the pod that held the lease before this
   * one) loses its primary label right after this pod got it, so the primary Service never
   * selects two pods for longer than one API round trip, even when that pod's node is gone.
   * Never rejects: API failures are logged, and the next call retries.
   */
  publishRole(role: PodRole, previousPrimary?: string | null): Promise<void>;
  /** Records an Event on this pod (null: nothing to record). Never rejects. */
  recordEvent(event: PodEvent | null): Promise<void>;
}

export interface ApiPodRolePublisherOptions {
  kubeConfig: KubeConfig;
  podName: string;
  namespace: string;
  logger: Logger;
  /**
   * How long a role this publisher set is trusted before it reads the label back again
   * (so a label removed by hand comes back). The agent calls publishRole every loop;
   * this keeps that from costing an API call each time.
   */
  recheckIntervalMs?: number;
  now?: () => number;
}

const component = 'mysql-ha-agent';

/** Publishes the role through the Kubernetes API. */
export class ApiPodRolePublisher implements PodRolePublisher {
  private readonly core: CoreV1Api;
  private readonly podName: string;
  private readonly namespace: string;
  private readonly logger: Logger;
  private readonly recheckIntervalMs: number;
  private readonly now: () => number;
  private published: { role: PodRole; at: number } | undefined;
  private sequence = 0n;
  /** This pod's uid, from its last read: Events name the pod they are about by it. */
  private uid: string | undefined;
  /** The previous primary whose label this publisher has cleared (or found clear). */
  private cleared: string | undefined;
  /** Calls run one at a time, so two overlapping loops cannot both see a change and both report it. */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: ApiPodRolePublisherOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.podName = options.podName;
    this.namespace = options.namespace;
    this.logger = options.logger;
    this.recheckIntervalMs = options.recheckIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  publishRole(role: PodRole, previousPrimary: string | null = null): Promise<void> {
    const published = this.queue.then(async () => {
      await this.publish(role);
      const labelled = this.published?.role === 'primary';
      if (role === 'primary' && labelled && previousPrimary !== null && previousPrimary !== this.podName && previousPrimary !== this.cleared) {
        await this.clearPrimaryLabel(previousPrimary);
      }
    });
    // Whatever happens to one call, the next still runs.
    this.queue = published.catch(() => {});
    return published;
  }

  private async publish(role: PodRole): Promise<void> {
    if (this.published?.role === role && this.now() - this.published.at < this.recheckIntervalMs) return;
    const pod = `${this.namespace}/${this.podName}`;
    let current: V1Pod;
    try {
      current = await this.core.readNamespacedPod({ name: this.podName, namespace: this.namespace });
    } catch (error) {
      this.published = undefined;
      this.reportFailure(error, 'get', 'pods', `read pod ${pod} to check its ${roleLabelKey} label`);
      return;
    }
    this.uid = current.metadata?.uid;
    const previous = current.metadata?.labels?.[roleLabelKey];
    if (previous !== role) {
      try {
        await this.core.patchNamespacedPod(
          { name: this.podName, namespace: this.namespace, body: { metadata: { labels: { [roleLabelKey]: role } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (error) {
        this.published = undefined;
        this.reportFailure(error, 'patch', 'pods', `set label ${roleLabelKey}=${role} on pod ${pod}`);
        return;
      }
      this.logger.info({ pod, role, previousRole: previous ?? null }, `labelled pod ${pod} ${roleLabelKey}=${role}`);
      await this.createEvent({
        reason: roleChangedReason,
        message: `${this.podName} is now ${role} (${previous === undefined ? 'had no role label' : `was ${previous}`})`,
        type: 'Normal',
      });
    }
    this.published = { role, at: this.now() };
  }

  /** Removes `podName`'s primary label, unless its own agent has set another value meanwhile (compare-and-set on the resourceVersion). */
  private async clearPrimaryLabel(podName: string): Promise<void> {
    const pod = `${this.namespace}/${podName}`;
    try {
      const current = await this.core.readNamespacedPod({ name: podName, namespace: this.namespace });
      if (current.metadata?.labels?.[roleLabelKey] === 'primary') {
        const body = { metadata: { resourceVersion: current.metadata.resourceVersion, labels: { [roleLabelKey]: null } } };
        await this.core.patchNamespacedPod({ name: podName, namespace: this.namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
        this.logger.info({ pod, primary: this.podName }, `removed the ${roleLabelKey}=primary label of the previous primary ${pod}`);
      }
      this.cleared = podName;
    } catch (error) {
      // Gone is as good as cleared: a deleted pod is selected by no Service.
      if (describeApiFailure(error).status === 404) {
        this.cleared = podName;
        return;
      }
      this.reportFailure(error, 'patch', 'pods', `remove the ${roleLabelKey}=primary label of the previous primary ${pod}`, podName);
    }
  }

  recordEvent(event: PodEvent | null): Promise<void> {
    if (event === null) return Promise.resolve();
    const recorded = this.queue.then(() => this.createEvent(event));
    this.queue = recorded.catch(() => {});
    return recorded;
  }

  private async createEvent({ reason, message, type }: PodEvent): Promise<void> {
    const at = this.now();
    const event: CoreV1Event = {
      // Named like the events Kubernetes itself makes: <object>.<time in hex>.
      // The sequence keeps two Events of the same millisecond apart.
      metadata: { name: `${this.podName}.${(BigInt(at) * 1_000_000n + (this.sequence++ % 1_000_000n)).toString(16)}`, namespace: this.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: this.podName, namespace: this.namespace, uid: this.uid },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      reportingInstance: this.podName,
      firstTimestamp: new Date(at),
      lastTimestamp: new Date(at),
      count: 1,
    };
    try {
      await this.core.createNamespacedEvent({ namespace: this.namespace, body: event });
    } catch (error) {
      // What it records has happened; only the record of it is missing.
      this.reportFailure(error, 'create', 'events', `record event "${message}" on pod ${this.namespace}/${this.podName}`);
    }
  }

  private reportFailure(error: unknown, verb: string, resource: string, what: string, podName = this.podName): void {
    const failure = describeApiFailure(error);
    const problem = kubernetesApiError(`Kubernetes API: cannot ${what}: ${failure.message}`, failure, verb, resource, error);
    this.logger.warn({ object: `pods/${this.namespace}/${podName}`, status: failure.status, reason: failure.reason, code: problem.code }, problem.message);
  }
}
