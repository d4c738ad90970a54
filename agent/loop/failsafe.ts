import type { Observation, Topology } from './state.ts';

/**
 * Failsafe while the lease store is unreachable (as Patroni's failsafe_mode).
 *
 * Why it is safe: a new primary needs the lease, and the lease needs the store. While the
 * store is down for the primary, the primary asks every peer, every tick, to confirm that it
 * (1) follows this primary and (2) cannot reach the store either; a peer that confirms also
 * promises not to take the lease for one TTL from its answer. Only if every peer confirms does
 * the primary extend its own lease deadline, to one TTL (less the fencing margin) from when it
 * asked: earlier than any promise it holds can run out. So while the primary stays writable,
 * no peer can be elected: those that reach the store again still keep their promise, and an
 * election needs them all. Any peer unreachable, down, following another node or reaching the
 * store: no extension, and the primary fences as it always did when its lease runs out.
 */
export type FailsafeAnswer = { ok: true; reason: string } | { ok: false; reason: string };

/** A peer's answer to a primary's failsafe request, from its own latest observation. */
export function answerFailsafe(observation: Observation | null, topology: Topology, primary: string): FailsafeAnswer {
  const self = topology.self.name;
  if (observation === null) return { ok: false, reason: `${self} has not observed its node yet` };
  const { lease, mysql } = observation;
  if (lease.state !== 'unknown') {
    const holder = lease.state === 'held' ? `held by ${lease.record.holder}` : 'free';
    return { ok: false, reason: `${self} reaches the lease store (the lease is ${holder}): the lease decides, not the failsafe` };
  }
  const host = topology.peers.find((peer) => peer.name === primary)?.host;
  if (!mysql.up) return { ok: false, reason: `${self}'s mysqld is down: it follows nobody` };
  const source = mysql.replica?.sourceHost;
  if (host === undefined || source !== host) {
    return { ok: false, reason: `${self} does not follow ${primary} (its source is ${source ?? 'none'})` };
  }
  return { ok: true, reason: `${self} follows ${primary} and cannot reach the lease store either (${lease.error})` };
}
