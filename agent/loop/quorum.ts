// How many acknowledgements a lossless commit waits for, and so how many nodes an election must
// hear from. An acknowledged write is on the primary and on `acks` replicas; once the primary is
// lost, any (replicas − acks + 1) of the replicas include at least one of those `acks`, so the
// most advanced of them holds every acknowledged write (a replica's transactions are a prefix of
// the primary's binary log).

/**
 * Acknowledgements for a cluster of `pods`: ⌊pods / 2⌋ (1 for three pods, 2 for five), so that
 * the primary and its acknowledgers are a majority; 1 without semi-sync (nothing waits) and at
 * most what the flavour can wait for (MariaDB: 1).
 */
export function semiSyncAcks(pods: number, lossless: boolean, maxAcks: number): number {
  return lossless ? Math.max(1, Math.min(maxAcks, Math.floor(pods / 2))) : 1;
}

/** Nodes besides the lost primary (the one deciding included) that must be seen before electing. */
export function electionQuorum(pods: number, acks: number): number {
  return Math.max(1, pods - 1 - acks + 1);
}
