import type { Peer } from '../config.ts';
import { ERRANT_STATES } from '../loop/decide.ts';
import { DEFAULT_TAGS, type PeerStatus } from '../loop/state.ts';
import type { AgentClient } from './agent-client.ts';
import { fetchStatus } from './status-client.ts';

/** Asks every peer's agent for /status at once; an agent that does not answer is data. */
export async function observePeers(
  client: AgentClient,
  peers: Peer[],
  agentPort: number,
  token: string | null,
  timeoutOf: (peer: string) => number,
): Promise<PeerStatus[]> {
  return Promise.all(
    peers.map(async (peer): Promise<PeerStatus> => {
      const { status, unreachable } = await fetchStatus(client, client.url(peer.host, agentPort), timeoutOf(peer.name), token);
      if (status === null)
        return {
          name: peer.name,
          unreachable,
          mysqldUp: false,
          gtidExecuted: '',
          retrievedGtids: '',
          errant: false,
          storeUnreachable: null,
          viewedSinceLeaseFree: false,
          terminating: false,
          revision: null,
          tags: DEFAULT_TAGS,
        };
      return {
        name: peer.name,
        unreachable: null,
        mysqldUp: status.mysqld.up,
        gtidExecuted: status.gtidExecuted ?? '',
        retrievedGtids: status.replication?.retrievedGtids ?? '',
        errant: ERRANT_STATES.has(status.decision?.state ?? ''),
        storeUnreachable: status.lease?.state === 'unknown' ? (status.lease.error ?? 'lease store unreachable') : null,
        // An agent of an older version does not say: its view counts as taken before.
        viewedSinceLeaseFree: status.lease?.state === 'free' && status.lease.observedSinceFree === true,
        // An agent of an older version says neither.
        terminating: status.terminating === true,
        revision: status.revision ?? null,
        tags: status.tags ?? DEFAULT_TAGS,
      };
    }),
  );
}
