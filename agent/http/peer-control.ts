import type { Peer } from '../config.ts';
import { rootMessageOf } from '../errors.ts';
import type { FailsafeAnswer } from '../loop/failsafe.ts';
import type { AgentClient } from './agent-client.ts';

// The control requests one agent sends another, with the control token (MYSQL_HA_SWITCHOVER_TOKEN).

export interface PeerFailsafeAnswer {
  name: string;
  answer: FailsafeAnswer;
}

export interface PeerControl {
  client: AgentClient;
  agentPort: number;
  token: string | null;
}

function post(peer: Peer, path: string, body: unknown, { client, agentPort, token }: PeerControl, timeoutMs: number) {
  return client.request(`${client.url(peer.host, agentPort)}${path}`, { method: 'POST', token, body, timeoutMs });
}

/**
 * A primary cut off from the lease store asks every peer's agent (POST /failsafe) to confirm
 * that it follows `primary`; an agent that cannot be asked refuses.
 */
export async function askFailsafe(peers: Peer[], primary: string, control: PeerControl, timeoutMs: number): Promise<PeerFailsafeAnswer[]> {
  return Promise.all(
    peers.map(async (peer): Promise<PeerFailsafeAnswer> => {
      if (control.token === null) {
        return { name: peer.name, answer: { ok: false, reason: 'the failsafe needs MYSQL_HA_SWITCHOVER_TOKEN (peers confirm only to a caller with it)' } };
      }
      try {
        const response = await post(peer, '/failsafe', { primary }, control, timeoutMs);
        const body = (await response.json()) as Partial<FailsafeAnswer>;
        const reason = typeof body.reason === 'string' ? body.reason : `answered ${response.status}`;
        return { name: peer.name, answer: response.ok && body.ok === true ? { ok: true, reason } : { ok: false, reason } };
      } catch (error) {
        return { name: peer.name, answer: { ok: false, reason: `agent unreachable (${rootMessageOf(error)})` } };
      }
    }),
  );
}

/**
 * Tells peers' agents to look again now (POST /nudge), `first` (if any) before the others: the
 * lease just moved to it, and it promotes itself while the others start following it, instead of
 * each noticing on its next tick; or a new primary is ready, and the replicas ask for its
 * position now rather than at their next retry. Best effort: the ticks come anyway.
 */
export async function nudgePeers(first: Peer | null, others: Peer[], control: PeerControl, timeoutMs: number): Promise<void> {
  if (control.token === null) return;
  const nudge = (peer: Peer) => post(peer, '/nudge', {}, control, timeoutMs).catch(() => undefined);
  if (first) await nudge(first);
  await Promise.all(others.filter((peer) => peer.name !== first?.name).map(nudge));
}
