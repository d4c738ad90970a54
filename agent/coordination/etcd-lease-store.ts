import {
  castGrpcError,
  Etcd3,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type IKeyValue,
  type ILeaseKeepAliveResponse,
} from 'etcd3';
import { AgentError, messageOf } from '../errors.ts';
import { appendLeaseHistory, isSameLease, type LeaseHistoryEntry, type LeaseRecord, type LeaseStore, type LeaseWrite, parseLeaseHistory } from './lease.ts';

export interface EtcdLeaseStoreOptions {
  /** etcd client URLs, e.g. ["http://etcd-0.etcd:2379", "http://etcd-1.etcd:2379"]. */
  hosts: string[];
  /** The cluster's name: its keys live under /mysql-ha/<cluster>/. */
  cluster: string;
  /** How long one store call (all the etcd requests it makes) may take; default 5000. */
  requestTimeoutMs?: number;
}

/** What the leader key holds; `version` is the key's mod_revision, not stored. */
interface StoredLease {
  holder: string;
  term: number;
  ttlMs: number;
  renewedAt: number;
  /** Absent in records written before it existed: an election. */
  handedOver?: boolean;
}

/** A leader key whose value is not a lease record: something other than a store wrote it. */
class UnreadableLeaseValue extends Error {}

/** etcd grants leases in whole seconds; it raises a TTL below its own minimum by itself. */
function leaseTtlSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

function isStoredLease(value: unknown): value is StoredLease {
  const lease = value as Partial<StoredLease> | null;
  return (
    typeof lease === 'object' &&
    lease !== null &&
    typeof lease.holder === 'string' &&
    typeof lease.term === 'number' &&
    typeof lease.ttlMs === 'number' &&
    typeof lease.renewedAt === 'number'
  );
}

/**
 * The leader lease in etcd. Four keys under /mysql-ha/<cluster>/:
 *  - leader: JSON {holder, term, ttlMs, renewedAt, handedOver}, attached to an etcd lease of ttlMs, so
 *    etcd deletes it when the holder stops renewing; its mod_revision is the record's version;
 *  - term: the last term handed out, without a lease, so the term survives expiry;
 *  - history: JSON array of the last changes of holder (lease.ts, point 8), without a lease, written
 *    in the transaction that writes the leader key;
 *  - bootstrapped: "true" once set, without a lease.
 * Every write is one transaction that compares mod revisions (compare-and-set).
 */
export class EtcdLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly hosts: string;
  private readonly keyPrefix: string;
  private readonly leaderKey: string;
  private readonly termKey: string;
  private readonly historyKey: string;
  private readonly bootstrappedKey: string;
  private readonly requestTimeoutMs: number;

  constructor(options: EtcdLeaseStoreOptions) {
    this.hosts = options.hosts.join(',');
    this.keyPrefix = `/mysql-ha/${options.cluster}/`;
    this.leaderKey = `${this.keyPrefix}leader`;
    this.termKey = `${this.keyPrefix}term`;
    this.historyKey = `${this.keyPrefix}history`;
    this.bootstrappedKey = `${this.keyPrefix}bootstrapped`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.description = `etcd ${this.hosts} key ${this.leaderKey}`;
    // etcd3 1.1.2 declares a dialTimeout option but never reads it: the deadline each call
    // gets (see run) is what bounds connecting too.
    this.client = new Etcd3({ hosts: options.hosts });
  }

  read(): Promise<LeaseRecord | null> {
    return this.run('read the lease', async (deadline) => this.recordOf(await this.get(this.leaderKey, deadline)));
  }

  acquire(holder: string, ttlMs: number, expectedVersion: string | null, handedOver: boolean, reason: string): Promise<LeaseWrite> {
    return this.run(`acquire the lease for ${holder}`, async (deadline) => {
      const [leader, lastTerm, history] = await Promise.all([
        this.get(this.leaderKey, deadline),
        this.get(this.termKey, deadline),
        this.get(this.historyKey, deadline),
      ]);
      const previous = this.recordOf(leader);
      if ((leader?.mod_revision ?? null) !== expectedVersion) return { ok: false, current: previous };

      const term = (lastTerm === undefined ? 0 : Number(lastTerm.value.toString())) + 1;
      const stored = { holder, term, ttlMs, renewedAt: Date.now(), handedOver };
      const value = JSON.stringify(stored);
      const entries = appendLeaseHistory(parseLeaseHistory(history?.value.toString()), { ...stored, previous, at: stored.renewedAt, reason });
      const { ID: leaseId } = await this.client.leaseClient.leaseGrant({ TTL: leaseTtlSeconds(ttlMs) }, { deadline });
      // A missing key has mod revision 0, so one comparison covers "absent" and "still that version".
      // The history's mod revision too: otherwise an entry another writer appended since the read would be lost.
      const txn = await this.client
        .if(this.leaderKey, 'Mod', '==', expectedVersion ?? 0)
        .and(this.termKey, 'Mod', '==', lastTerm?.mod_revision ?? 0)
        .and(this.historyKey, 'Mod', '==', history?.mod_revision ?? 0)
        .then(
          this.client.put(this.leaderKey).value(value).lease(leaseId),
          this.client.put(this.termKey).value(String(term)),
          this.client.put(this.historyKey).value(JSON.stringify(entries)),
        )
        .else(this.client.get(this.leaderKey))
        .options({ deadline })
        .commit();
      if (txn.succeeded) return { ok: true, record: { ...stored, version: txn.header.revision } };

      const current = txn.responses[0]?.response_range.kvs[0];
      // The client retries a call whose connection failed; an earlier attempt may have landed.
      if (current?.value.toString() === value) return { ok: true, record: { ...stored, version: current.mod_revision } };
      await this.revokeQuietly(leaseId, deadline);
      return { ok: false, current: this.recordOf(current) };
    });
  }

  renew(record: LeaseRecord, ttlMs: number): Promise<LeaseWrite> {
    return this.run(`renew the lease of ${record.holder}`, async (deadline) => {
      const leader = await this.get(this.leaderKey, deadline);
      const current = this.recordOf(leader);
      if (leader === undefined || !isSameLease(current, record)) return { ok: false, current };
      if (!(await this.keepAliveOnce(leader.lease, deadline))) {
        // The etcd lease has expired, so etcd has deleted (or is deleting) the key.
        return { ok: false, current: this.recordOf(await this.get(this.leaderKey, deadline)) };
      }
      // An etcd lease keeps the TTL it was granted: another TTL needs a new one.
      const sameTtl = leaseTtlSeconds(ttlMs) === leaseTtlSeconds(current.ttlMs);
      const etcdLease = sameTtl ? leader.lease : (await this.client.leaseClient.leaseGrant({ TTL: leaseTtlSeconds(ttlMs) }, { deadline })).ID;
      // Strictly later, so that a renewal always shows as one, even within a millisecond.
      const renewedAt = Math.max(Date.now(), record.renewedAt + 1);
      const stored = { holder: current.holder, term: current.term, ttlMs, renewedAt, handedOver: current.handedOver };
      const value = JSON.stringify(stored);
      const txn = await this.client
        .if(this.leaderKey, 'Mod', '==', record.version)
        .then(this.client.put(this.leaderKey).value(value).lease(etcdLease))
        .else(this.client.get(this.leaderKey))
        .options({ deadline })
        .commit();
      if (txn.succeeded) {
        // The key moved to the new etcd lease: the old one holds nothing any more.
        if (!sameTtl) await this.revokeQuietly(leader.lease, deadline);
        return { ok: true, record: { ...stored, version: txn.header.revision } };
      }
      const latest = txn.responses[0]?.response_range.kvs[0];
      if (latest?.value.toString() === value) return { ok: true, record: { ...stored, version: latest.mod_revision } };
      if (!sameTtl) await this.revokeQuietly(etcdLease, deadline);
      return { ok: false, current: this.recordOf(latest) };
    });
  }

  release(record: LeaseRecord): Promise<boolean> {
    return this.run(`release the lease of ${record.holder}`, async (deadline) => {
      const leader = await this.get(this.leaderKey, deadline);
      if (leader === undefined || !isSameLease(this.recordOf(leader), record)) return false;
      const txn = await this.client
        .if(this.leaderKey, 'Mod', '==', record.version)
        .then(this.client.delete().key(this.leaderKey))
        .options({ deadline })
        .commit();
      if (txn.succeeded) await this.revokeQuietly(leader.lease, deadline);
      return txn.succeeded;
    });
  }

  isBootstrapped(): Promise<boolean> {
    return this.run('read the bootstrapped flag', async (deadline) => (await this.get(this.bootstrappedKey, deadline)) !== undefined);
  }

  markBootstrapped(): Promise<void> {
    return this.run('set the bootstrapped flag', async (deadline) => {
      // Nothing ever deletes this key, so a plain put keeps the flag one-way.
      await this.client.put(this.bootstrappedKey).value('true').options({ deadline }).exec();
    });
  }

  history(): Promise<LeaseHistoryEntry[]> {
    return this.run('read the lease history', async (deadline) => parseLeaseHistory((await this.get(this.historyKey, deadline))?.value.toString()));
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** One deadline for the whole call, however many requests (and client retries) it takes. */
  private async run<T>(operation: string, body: (deadline: number) => Promise<T>): Promise<T> {
    try {
      return await body(Date.now() + this.requestTimeoutMs);
    } catch (error) {
      throw this.failure(operation, error);
    }
  }

  private async get(key: string, deadline: number): Promise<IKeyValue | undefined> {
    const response = await this.client.get(key).options({ deadline }).exec();
    return response.kvs[0];
  }

  private recordOf(kv: IKeyValue | undefined): LeaseRecord | null {
    if (kv === undefined) return null;
    const text = kv.value.toString();
    let stored: unknown;
    try {
      stored = JSON.parse(text);
    } catch {
      stored = undefined;
    }
    if (!isStoredLease(stored)) {
      throw new UnreadableLeaseValue(`the key holds ${JSON.stringify(text)}, not a lease record {holder, term, ttlMs, renewedAt}`);
    }
    const { holder, term, ttlMs, renewedAt } = stored;
    return { holder, term, ttlMs, renewedAt, version: kv.mod_revision, handedOver: stored.handedOver === true };
  }

  /** True when the etcd lease is still alive (and now has its full TTL again). */
  private async keepAliveOnce(leaseId: string, deadline: number): Promise<boolean> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline });
    try {
      const response = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', (error) => reject(castGrpcError(error)));
        stream.write({ ID: leaseId });
      });
      return Number(response.TTL) > 0;
    } finally {
      stream.end();
    }
  }

  /** Revoking only tidies up: an etcd lease with no key left on it expires by itself. */
  private async revokeQuietly(leaseId: string, deadline: number): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline }).catch(() => {});
  }

  /** What failed and what to do, both in the message: the lease keeper reports it as it is. */
  private failure(operation: string, error: unknown): AgentError {
    const message = `${this.description}: cannot ${operation}: ${this.reasonOf(error)}`;
    if (error instanceof UnreadableLeaseValue) {
      return new AgentError('LEASE_RECORD_UNREADABLE', message, {
        cause: error,
        hintInMessage: true,
        hint: `delete the key (etcdctl del ${this.leaderKey}) so that the next election writes it afresh`,
      });
    }
    if (error instanceof EtcdPermissionDeniedError) {
      return new AgentError('ETCD_PERMISSION_DENIED', message, {
        cause: error,
        hintInMessage: true,
        hint: `give the agent's etcd user read and write access to the keys under ${this.keyPrefix}`,
      });
    }
    return new AgentError('ETCD_REQUEST_FAILED', message, {
      cause: error,
      hintInMessage: true,
      hint: `check that etcd answers at ${this.hosts} from this pod; the agent tries again on its next call`,
    });
  }

  private reasonOf(error: unknown): string {
    if (error instanceof GRPCDeadlineExceededError) return `no answer within ${this.requestTimeoutMs} ms`;
    if (error instanceof GRPCUnavailableError) {
      // grpc-js ends this message with an empty "Resolution note:" for plain addresses.
      return `etcd is unreachable (${error.message.replace(/\s*Resolution note:\s*$/, '')})`;
    }
    // cockatiel's BrokenCircuitError, which etcd3 does not re-export.
    if ((error as { isBrokenCircuitError?: boolean } | null)?.isBrokenCircuitError === true) {
      return 'the etcd client stopped calling etcd for a few seconds after several failed calls in a row';
    }
    return messageOf(error);
  }
}
