import type { Peer } from '../config.ts';
import { rootMessageOf } from '../errors.ts';
import type { PeerStatus } from '../loop/state.ts';

interface StatusBody {
  mysqld?: { up?: boolean };
  gtidExecuted?: string | null;
  replication?: { retrievedGtids?: string } | null;
  decision?: { state?: string } | null;
  lease?: { state?: string; error?: string } | null;
}

/** States in which a node's GTIDs are not data to elect on: it holds transactions the cluster must not get. */
export const ERRANT_STATES = new Set(['replica-errant', 'replica-rebuilding']);

/** Asks every peer's agent for /status at once; an agent that does not answer is data. */
export async function observePeers(peers: Peer[], agentPort: number, timeoutMs: number): Promise<PeerStatus[]> {
  return Promise.all(
    peers.map(async (peer): Promise<PeerStatus> => {
      try {
        const response = await fetch(`http://${peer.host}:${agentPort}/status`, { signal: AbortSignal.timeout(timeoutMs) });
        const body = (await response.json()) as StatusBody;
        return {
          name: peer.name,
          unreachable: null,
          mysqldUp: body.mysqld?.up === true,
          gtidExecuted: body.gtidExecuted ?? '',
          retrievedGtids: body.replication?.retrievedGtids ?? '',
          errant: ERRANT_STATES.has(body.decision?.state ?? ''),
          storeUnreachable: body.lease?.state === 'unknown' ? (body.lease.error ?? 'lease store unreachable') : null,
        };
      } catch (error) {
        return {
          name: peer.name,
          unreachable: `agent unreachable (${rootMessageOf(error)})`,
          mysqldUp: false,
          gtidExecuted: '',
          retrievedGtids: '',
          errant: false,
          storeUnreachable: null,
        };
      }
    }),
  );
}
