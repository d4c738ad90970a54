import type { Peer } from '../config.ts';
import { rootMessageOf } from '../errors.ts';
import type { FailsafeAnswer } from '../loop/failsafe.ts';

export interface PeerFailsafeAnswer {
  name: string;
  answer: FailsafeAnswer;
}

/**
 * A primary cut off from the lease store asks every peer's agent (POST /failsafe, with the
 * control token) to confirm that it follows `primary`; an agent that cannot be asked refuses.
 */
export async function askFailsafe(peers: Peer[], agentPort: number, primary: string, token: string | null, timeoutMs: number): Promise<PeerFailsafeAnswer[]> {
  return Promise.all(
    peers.map(async (peer): Promise<PeerFailsafeAnswer> => {
      if (token === null)
        return { name: peer.name, answer: { ok: false, reason: 'the failsafe needs MYSQL_HA_SWITCHOVER_TOKEN (peers confirm only to a caller with it)' } };
      try {
        const response = await fetch(`http://${peer.host}:${agentPort}/failsafe`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ primary }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await response.json()) as Partial<FailsafeAnswer>;
        const reason = typeof body.reason === 'string' ? body.reason : `answered ${response.status}`;
        return { name: peer.name, answer: response.ok && body.ok === true ? { ok: true, reason } : { ok: false, reason } };
      } catch (error) {
        return { name: peer.name, answer: { ok: false, reason: `agent unreachable (${rootMessageOf(error)})` } };
      }
    }),
  );
}
