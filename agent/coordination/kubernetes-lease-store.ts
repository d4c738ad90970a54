import {
  ApiException,
  type ConfigurationOptions,
  CoordinationV1Api,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  type V1Lease,
  type V1LeaseSpec,
  V1MicroTime,
} from '@kubernetes/client-node';
import { AgentError, messageOf } from '../errors.ts';
import { describeApiFailure, kubernetesApiError } from '../kubernetes/api-failure.ts';
import { appendLeaseHistory, isSameLease, type LeaseHistoryEntry, type LeaseRecord, type LeaseStore, type LeaseWrite, parseLeaseHistory } from './lease.ts';

export interface KubernetesLeaseStoreOptions {
  kubeConfig: KubeConfig;
  /** The pod's namespace; the Lease lives there. */
  namespace: string;
  /** The cluster's name: the Lease is named <cluster>-leader. */
  cluster: string;
  /** How long one store call (all the API requests it makes) may take; default 5000. */
  requestTimeoutMs?: number;
}

/** Set to "true" on the Lease once a first primary has been elected; never removed. */
export const bootstrappedAnnotation = 'mysql-ha.io/bootstrapped';
/** On the Lease while its holder got it by a planned hand-over ("true"); removed by an election. */
export const handedOverAnnotation = 'mysql-ha.io/handed-over';
/** JSON array of the last changes of holder (lease.ts, point 8), written by the update that changes the holder. */
export const historyAnnotation = 'mysql-ha.io/lease-history';

const leaseResource = 'leases.coordination.k8s.io';

type LeaseVerb = 'get' | 'create' | 'update';

/** An API request of a store call that failed, with the RBAC verb it needed. */
class LeaseRequestFailure extends Error {
  readonly verb: LeaseVerb;
  constructor(verb: LeaseVerb, cause: unknown) {
    super(`${verb} failed`, { cause });
    this.verb = verb;
  }
}

/** One store call: every API request it makes shares one timeout. */
interface StoreCall {
  signal: AbortSignal;
  options: ConfigurationOptions;
}

function abortingOn(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(signal);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

function versionOf(lease: V1Lease): string {
  const version = lease.metadata?.resourceVersion;
  if (!version) {
    throw new AgentError('KUBERNETES_API_FAILED', 'the API server answered with a Lease that has no metadata.resourceVersion');
  }
  return version;
}

/** leaseDurationSeconds holds whole seconds: a TTL is rounded up. */
function durationSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

/** The holder's record, or null when nobody holds the Lease (never acquired, or released). */
function recordOf(lease: V1Lease): LeaseRecord | null {
  const spec: V1LeaseSpec = lease.spec ?? {};
  if (!spec.holderIdentity) return null;
  // The client leaves MicroTime fields as the API server's strings: Date parses both.
  const renewTime = spec.renewTime ?? spec.acquireTime;
  return {
    holder: spec.holderIdentity,
    term: spec.leaseTransitions ?? 0,
    ttlMs: (spec.leaseDurationSeconds ?? 0) * 1000,
    renewedAt: renewTime === undefined ? 0 : new Date(renewTime).getTime(),
    version: versionOf(lease),
    handedOver: lease.metadata?.annotations?.[handedOverAnnotation] === 'true',
  };
}

/**
 * The leader lease as a coordination.k8s.io/v1 Lease named <cluster>-leader, written the way
 * client-go leader election writes it: spec.holderIdentity, leaseDurationSeconds (ttlMs
 * rounded up to whole seconds), acquireTime, renewTime, and leaseTransitions as the term.
 * Every write is a PUT carrying the resourceVersion it read (compare-and-set), so it also
 * keeps whatever else is on the Lease, such as the bootstrapped annotation. A release
 * empties holderIdentity and keeps the Lease, so the term and the annotations (the history
 * among them) stay.
 * The API server never expires a Lease: readers judge expiry (see lease.ts).
 */
export class KubernetesLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly api: CoordinationV1Api;
  private readonly name: string;
  private readonly namespace: string;
  private readonly requestTimeoutMs: number;

  constructor(options: KubernetesLeaseStoreOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.name = `${options.cluster}-leader`;
    this.namespace = options.namespace;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.description = `Kubernetes Lease ${this.namespace}/${this.name}`;
  }

  read(): Promise<LeaseRecord | null> {
    return this.run('read it', (call) => this.readRecord(call));
  }

  acquire(holder: string, ttlMs: number, expectedVersion: string | null, handedOver: boolean, reason: string): Promise<LeaseWrite> {
    return this.run(`acquire it for ${holder}`, async (call) => {
      const lease = await this.get(call);
      const current = lease === undefined ? null : recordOf(lease);
      const expected = expectedVersion === null ? current === null : lease !== undefined && versionOf(lease) === expectedVersion;
      if (!expected) return { ok: false, current };

      const leaseDurationSeconds = durationSeconds(ttlMs);
      const term = (lease?.spec?.leaseTransitions ?? 0) + 1;
      const now = new V1MicroTime(Date.now());
      const spec: V1LeaseSpec = { ...lease?.spec, holderIdentity: holder, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: term };
      const { [handedOverAnnotation]: _previous, [historyAnnotation]: storedHistory, ...otherAnnotations } = lease?.metadata?.annotations ?? {};
      const history = appendLeaseHistory(parseLeaseHistory(storedHistory), { holder, term, handedOver, previous: current, at: now.getTime(), reason });
      const annotations = { ...otherAnnotations, [historyAnnotation]: JSON.stringify(history), ...(handedOver && { [handedOverAnnotation]: 'true' }) };
      const written =
        lease === undefined
          ? await this.create({ metadata: { name: this.name, namespace: this.namespace, annotations }, spec }, call)
          : await this.replace({ ...lease, metadata: { ...lease.metadata, annotations }, spec }, call);
      if (written === undefined) return { ok: false, current: await this.readRecord(call) };
      const record = { holder, term, ttlMs: leaseDurationSeconds * 1000, renewedAt: now.getTime(), version: versionOf(written), handedOver };
      return { ok: true, record };
    });
  }

  renew(record: LeaseRecord, ttlMs: number): Promise<LeaseWrite> {
    return this.run(`renew it for ${record.holder}`, async (call) => {
      const lease = await this.get(call);
      const current = lease === undefined ? null : recordOf(lease);
      if (lease === undefined || !isSameLease(current, record)) return { ok: false, current };
      // Always a new renewTime: the API server skips an update that changes nothing, and
      // then the version would not change.
      const renewTime = new V1MicroTime(Math.max(Date.now(), current.renewedAt + 1));
      const leaseDurationSeconds = durationSeconds(ttlMs);
      const written = await this.replace({ ...lease, spec: { ...lease.spec, renewTime, leaseDurationSeconds } }, call);
      if (written === undefined) return { ok: false, current: await this.readRecord(call) };
      return { ok: true, record: { ...current, ttlMs: leaseDurationSeconds * 1000, renewedAt: renewTime.getTime(), version: versionOf(written) } };
    });
  }

  release(record: LeaseRecord): Promise<boolean> {
    return this.run(`release it for ${record.holder}`, async (call) => {
      const lease = await this.get(call);
      if (lease === undefined || !isSameLease(recordOf(lease), record)) return false;
      // As client-go releases: no holder, the shortest duration, the transitions kept.
      const now = new V1MicroTime(Date.now());
      const spec: V1LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
      return (await this.replace({ ...lease, spec }, call)) !== undefined;
    });
  }

  isBootstrapped(): Promise<boolean> {
    return this.run('read its bootstrapped annotation', async (call) => {
      const lease = await this.get(call);
      return lease?.metadata?.annotations?.[bootstrappedAnnotation] === 'true';
    });
  }

  markBootstrapped(): Promise<void> {
    return this.run(`set its ${bootstrappedAnnotation} annotation`, async (call) => {
      // A conflict means another agent wrote the Lease in between: read it again. The
      // call's timeout bounds the retries.
      for (;;) {
        const lease = await this.get(call);
        const annotations = lease?.metadata?.annotations ?? {};
        if (annotations[bootstrappedAnnotation] === 'true') return;
        const metadata = { ...lease?.metadata, name: this.name, namespace: this.namespace, annotations: { ...annotations, [bootstrappedAnnotation]: 'true' } };
        const written = lease === undefined ? await this.create({ metadata, spec: {} }, call) : await this.replace({ ...lease, metadata }, call);
        if (written !== undefined) return;
      }
    });
  }

  history(): Promise<LeaseHistoryEntry[]> {
    return this.run(`read its ${historyAnnotation} annotation`, async (call) => {
      const lease = await this.get(call);
      return parseLeaseHistory(lease?.metadata?.annotations?.[historyAnnotation]);
    });
  }

  async close(): Promise<void> {}

  private async run<T>(operation: string, body: (call: StoreCall) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await body({ signal, options: abortingOn(signal) });
    } catch (error) {
      throw this.failure(operation, error, signal);
    }
  }

  private async readRecord(call: StoreCall): Promise<LeaseRecord | null> {
    const lease = await this.get(call);
    return lease === undefined ? null : recordOf(lease);
  }

  /** The Lease, or undefined when it does not exist. */
  private async get(call: StoreCall): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }, call.options);
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw new LeaseRequestFailure('get', error);
    }
  }

  /** The created Lease, or undefined when another agent created it first. */
  private async create(body: V1Lease, call: StoreCall): Promise<V1Lease | undefined> {
    try {
      return await this.api.createNamespacedLease({ namespace: this.namespace, body }, call.options);
    } catch (error) {
      if (error instanceof ApiException && error.code === 409) return undefined;
      throw new LeaseRequestFailure('create', error);
    }
  }

  /** The replaced Lease, or undefined when it changed (409) or went away (404) since it was read. */
  private async replace(body: V1Lease, call: StoreCall): Promise<V1Lease | undefined> {
    try {
      return await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }, call.options);
    } catch (error) {
      if (error instanceof ApiException && (error.code === 409 || error.code === 404)) return undefined;
      throw new LeaseRequestFailure('update', error);
    }
  }

  /** What failed and what to do, both in the message: the lease keeper reports it as it is. */
  private failure(operation: string, error: unknown, signal: AbortSignal): AgentError {
    if (!(error instanceof LeaseRequestFailure)) {
      return new AgentError('KUBERNETES_API_FAILED', `${this.description}: cannot ${operation}: ${messageOf(error)}`, { cause: error, hintInMessage: true });
    }
    const failure = describeApiFailure(error.cause);
    const reason = signal.aborted ? `no answer within ${this.requestTimeoutMs} ms` : failure.message;
    // The Role grants no create: the Lease comes with the manifests, so a refused create means it is missing.
    const forbiddenHint =
      error.verb === 'create'
        ? `the Lease ${this.name} does not exist: apply manifests/lease.yaml (kubectl apply -k manifests/), which creates it empty`
        : undefined;
    return kubernetesApiError(
      `${this.description}: cannot ${operation}: ${error.verb} failed: ${reason}`,
      failure,
      error.verb,
      leaseResource,
      error.cause,
      forbiddenHint,
    );
  }
}
