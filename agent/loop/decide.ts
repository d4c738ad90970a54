import type { Peer } from '../config.ts';
import { failoverHoldBack, QUICK_FAILOVERS_ALLOWED } from './flapping.ts';
import { electionQuorum, semiSyncAcks } from './quorum.ts';
import {
  type Action,
  type Decision,
  type FailoverRequest,
  type LeaseView,
  type MysqlDown,
  type MysqlUp,
  type NodeState,
  neverPromotedBecause,
  type Observation,
  type PeerStatus,
  type ReinitRequest,
  type SwitchoverRequest,
  type Topology,
} from './state.ts';

export interface DecideContext {
  topology: Topology;
  /** The dialect's GTID difference: what `set` has that `other` lacks. */
  subtractGtids(set: string, other: string): string;
  /** The dialect's transaction count of GTID sets taken together. */
  countGtids(...sets: string[]): number;
  /** The dialect's answer to "did the server with this UUID write this member of a GTID difference?". */
  originatesFrom(member: string, serverUuid: string): boolean;
  /** How long the holder's mysqld may listen without answering before its agent gives the lease up. */
  mysqldDownGraceMs: number;
  /** How long the holder's mysqld may be gone (nothing listening) before its agent gives the lease up. */
  mysqldGoneGraceMs: number;
  /** After a release, how long an election waits for views of mysqld taken since the lease was free (the peers' and its own). */
  peerViewsWaitMs: number;
  /** Anti-flapping: a primary replaced sooner than this after it took the lease counts as flapping (agent/loop/flapping.ts). */
  failoverWindowMs: number;
  /** Semi-synchronous replication on the primary. */
  lossless: boolean;
  /** How long a switchover's candidate may take to apply everything. */
  handOverTimeoutMs: number;
  /** How long a terminating agent may take before it exits (a hand-over must end well before). */
  terminationTimeoutMs: number;
  /**
   * This node may replace its data with a clone of the primary's: where it has nothing the
   * primary lacks, or only its own commits no client saw (lossless mode). False where the
   * flavour cannot clone or the operator turned it off.
   */
  canClone: boolean;
  /** The most acknowledgements the flavour's semi-sync can wait for (agent/loop/quorum.ts). */
  maxSemiSyncAcks: number;
  /**
   * Why this server cannot replace its data with a copy of another's when asked (null: it can,
   * with MySQL's clone plugin or a mariadb-backup stream), automatic rebuilds on or off.
   */
  copyUnavailable: string | null;
}

/** States in which a node's GTIDs are not data to elect on: it holds transactions the cluster must not get. */
export const ERRANT_STATES: ReadonlySet<string> = new Set<NodeState>(['replica-errant', 'replica-rebuilding']);

/** Kept from a terminating agent's limit for stepping down after a hand-over that failed. */
const STEP_DOWN_RESERVE_MS = 5000;
/** Less time than this left: no hand-over is attempted any more. */
const MIN_HAND_OVER_MS = 2000;

const decision = (state: NodeState, action: Action, reason: string): Decision => ({ state, action, reason });
const none = { kind: 'none' } as const;
/** The lease history keeps why a node took the lease: the decision's own reason. */
const electing = (expectedVersion: string | null, reason: string): Decision => decision('electing', { kind: 'acquire-lease', expectedVersion, reason }, reason);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The pod that holds the lease, when someone does. */
export function primaryOf(observation: Observation, topology: Topology): Peer | null {
  const { lease } = observation;
  if (lease.state !== 'held') return null;
  return topology.peers.find((peer) => peer.name === lease.record.holder) ?? { name: lease.record.holder, host: lease.record.holder };
}

/** This node may be writable right now: it holds the lease and its last renewal has not run out. */
export function holdsLeaseNow(observation: Observation): boolean {
  const { lease, heldUntil, at } = observation;
  const mine = (lease.state === 'held' && lease.mine) || lease.state === 'unknown';
  return mine && heldUntil !== null && at < heldUntil;
}

/**
 * The pure heart of the agent: one observation (with the requests read this tick) in, one
 * decision out. No I/O, no clock; every branch is a named state with a reason a human can act on.
 */
export function decide(observation: Observation, context: DecideContext): Decision {
  const node = decideNode(observation, context);
  const { switchover, reinit, restart, failover } = observation.controls;
  if (observation.controls.terminatingSince !== null) {
    const leaving = decideTermination(observation, node, context);
    const why = `${context.topology.self.name} is terminating (its pod is being deleted)`;
    return {
      ...leaving,
      ...(switchover && { switchoverRefused: why }),
      ...(reinit && { reinitRefused: why }),
      ...(restart && { restartRefused: why }),
      ...(failover && { failoverRefused: why }),
    };
  }
  const switched = switchover === null ? node : decideSwitchover(observation, node, switchover, context);
  const copied = reinit === null ? switched : decideReinit(observation, switched, reinit, context);
  const restarted = restart === null ? copied : decideRestart(observation, copied, context);
  return failover === null ? restarted : decideManualFailover(observation, restarted, failover, context);
}

/**
 * A failover by hand: this node takes the free lease although automatic failover is paused or
 * cannot elect. Refused, saying what would be lost, where a peer has transactions this node
 * lacks or cannot be seen (it may hold acknowledged writes), unless forced.
 */
function decideManualFailover(observation: Observation, node: Decision, request: FailoverRequest, context: DecideContext): Decision {
  const refuse = (why: string): Decision => ({ ...node, failoverRefused: why });
  const { self, tags } = context.topology;
  const { lease, mysql } = observation;
  if (lease.state === 'unknown') return refuse(`the lease store is unreachable (${lease.error}): nobody can take the lease`);
  if (lease.state === 'held') {
    if (lease.mine) return refuse(`${self.name} is the primary already`);
    return refuse(
      `${lease.record.holder} holds the lease (its agent renews it): a live primary moves with a switchover; a paused one whose mysqld is down ` +
        'keeps its lease until automatic failover is resumed (mysql-ha-agent resume) or its pod is stopped',
    );
  }
  if (!lease.bootstrapped) return refuse(`a new cluster: the bootstrap primary ${context.topology.bootstrapPrimary} takes the first lease`);
  if (!mysql.up) return refuse(`${self.name}'s mysqld is down: it cannot become the primary`);
  if (observation.selfErrant) return refuse(`${self.name} holds transactions the cluster never had (errant): reinit it, or fail over to another pod`);
  const own = context.countGtids(mysql.variables.gtidExecuted, mysql.replica?.retrievedGtids ?? '');
  const losses: string[] = [];
  const tagged = neverPromotedBecause(tags);
  if (tagged !== null) losses.push(`${self.name}: ${tagged}`);
  // What the lost primary alone has was never acknowledged (as in an election): it is not waited for.
  const formerHolder = lease.record?.holder ?? lease.lastHolder;
  for (const peer of observation.peers) {
    if (peer.unreachable !== null || !peer.mysqldUp) {
      if (peer.name === formerHolder) continue;
      losses.push(`${peer.name} cannot be seen (${peer.unreachable ?? 'its mysqld is down'}): it may hold acknowledged writes`);
      continue;
    }
    const more = transactionsOf(peer, context) - own;
    if (more > 0) {
      const gtids = context.subtractGtids(peer.gtidExecuted, mysql.variables.gtidExecuted);
      losses.push(`${peer.name} has ${more} transaction(s) this node lacks${gtids === '' ? '' : ` (${gtids})`}: they would be lost`);
    }
  }
  if (losses.length > 0 && !request.force) return refuse(`${losses.join('; ')}; force it to fail over to ${self.name} all the same`);
  const forced = losses.length > 0 ? ` (forced past: ${losses.join('; ')})` : '';
  return electing(lease.record?.version ?? null, `manual failover to ${self.name} requested${forced}: taking the lease`);
}

/**
 * A reinit is one more decision of a replica: replace its data with a copy of a donor's, a
 * replica by default so the primary is not loaded (the primary when no replica can give it), then
 * follow the primary. Refused, with the reason, on the primary and wherever no copy can be made.
 */
function decideReinit(observation: Observation, node: Decision, request: ReinitRequest, context: DecideContext): Decision {
  const refuse = (why: string): Decision => ({ ...node, reinitRefused: why });
  const { self, peers } = context.topology;
  const { lease, mysql } = observation;
  if (lease.state === 'held' && lease.mine) {
    return refuse(`${self.name} is the primary: switch over first (mysql-ha-agent switchover), then reinit it as a replica`);
  }
  if (lease.state !== 'held') return refuse(`there is no serving primary to rejoin (${node.reason}): ask again once there is`);
  if (context.copyUnavailable !== null) {
    return refuse(`this server cannot copy another (${context.copyUnavailable}): rebuild it by hand (stop the pod, empty its data volume, start it)`);
  }
  if (!mysql.up) return refuse(`${self.name}'s mysqld is down, and a copy needs it running: start it, then ask again`);
  const usable = (peer: PeerStatus) => peer.unreachable === null && peer.mysqldUp && !peer.errant && !peer.terminating;
  const primary = lease.record.holder;
  let donor: PeerStatus | undefined;
  if (request.donor !== null) {
    donor = observation.peers.find((peer) => peer.name === request.donor);
    if (!donor || !usable(donor)) {
      const why = donor
        ? (donor.unreachable ?? (donor.terminating ? 'it is terminating' : 'its mysqld is down or it holds errant transactions'))
        : 'it is no other pod of this cluster';
      return refuse(`${request.donor} cannot be the donor: ${why}`);
    }
  } else {
    // The replica with the most transactions; the primary only when no replica can give a copy.
    const candidates = observation.peers
      .filter(usable)
      .sort((a, b) => Number(a.name === primary) - Number(b.name === primary) || transactionsOf(b, context) - transactionsOf(a, context));
    donor = candidates[0];
    if (!donor) return refuse('no donor: every other pod is unreachable, down, errant or terminating');
  }
  const source = peers.find((peer) => peer.name === donor.name) ?? { name: donor.name, host: donor.name };
  const which = donor.name === primary ? 'the primary' : 'a replica, so the primary is not loaded';
  return decision(
    'replica-rebuilding',
    { kind: 'rebuild', donor: source },
    `reinit requested: replacing this node's data with a copy of ${donor.name} (${which}), then following ${primary}`,
  );
}

/**
 * A restart of mysqld, asked for (`mysql-ha-agent restart POD`): a replica's, when the node has
 * nothing else to do this tick. A primary is refused: the CLI switches it over first, so a restart
 * never costs the cluster its writes.
 */
function decideRestart(observation: Observation, node: Decision, context: DecideContext): Decision {
  const refuse = (why: string): Decision => ({ ...node, restartRefused: why });
  const { self } = context.topology;
  const { lease, mysql } = observation;
  if ((lease.state === 'held' && lease.mine) || node.state.startsWith('primary-')) {
    return refuse(`${self.name} is the primary: switch over first (mysql-ha-agent restart ${self.name} does), then restart it as a replica`);
  }
  if (!mysql.up) return refuse(`${self.name}'s mysqld is down already (${mysql.error}): its supervisor starts it again`);
  if (node.action.kind !== 'none') return refuse(`${self.name} is busy: ${node.reason}; ask again once it is done`);
  return decision(
    'replica-restarting',
    { kind: 'restart-mysqld' },
    `restart requested: stopping mysqld and having its supervisor start it again (was: ${node.reason})`,
  );
}

const transactionsOf = (peer: PeerStatus, context: DecideContext) => context.countGtids(peer.gtidExecuted, peer.retrievedGtids);

/**
 * Replicas that can take the lease over from the serving primary, best first: reachable, mysqld
 * up, no errant transactions, not terminating themselves; `preferRevision`: those running another
 * pod revision than this one first (in a rolling update, the already updated ones); then the one
 * that has applied the most (the lease moves only once the candidate has applied everything, so
 * a replica whose applier lags costs writes), then the one that received the most.
 */
function handoverCandidates(observation: Observation, context: DecideContext, preferRevision: boolean): PeerStatus[] {
  const own = context.topology.revision;
  const newer = (peer: PeerStatus) => (preferRevision && own !== null && peer.revision !== null && peer.revision !== own ? 1 : 0);
  const applied = (peer: PeerStatus) => context.countGtids(peer.gtidExecuted);
  return observation.peers
    .filter((peer) => peer.unreachable === null && peer.mysqldUp && !peer.errant && !peer.terminating && neverPromotedBecause(peer.tags) === null)
    .sort(
      (a, b) =>
        newer(b) - newer(a) ||
        applied(b) - applied(a) ||
        b.tags.failoverPriority - a.tags.failoverPriority ||
        transactionsOf(b, context) - transactionsOf(a, context),
    );
}

const whyNotCandidate = (peer: PeerStatus | undefined) =>
  peer?.unreachable ??
  (peer?.terminating ? 'it is terminating too' : ((peer && neverPromotedBecause(peer.tags)) ?? 'its mysqld is down or it holds errant transactions'));

/**
 * A planned switchover is one more decision of the serving primary: hand the lease to the
 * requested replica, or to the most advanced one. Anywhere else it is refused with the
 * reason, and the node goes on with what it had decided.
 */
function decideSwitchover(observation: Observation, node: Decision, request: SwitchoverRequest, context: DecideContext): Decision {
  const refuse = (why: string): Decision => ({ ...node, switchoverRefused: why });
  const { self, peers } = context.topology;
  const { lease } = observation;
  if (node.state !== 'primary-serving' || lease.state !== 'held') {
    const holder = lease.state === 'held' && !lease.mine ? `: send the switchover to ${lease.record.holder}` : '';
    return refuse(`${self.name} is not the serving primary (${node.reason})${holder}`);
  }
  const replicas = peers.filter((peer) => peer.name !== self.name);
  if (request.candidate !== null && !replicas.some((peer) => peer.name === request.candidate)) {
    return refuse(`${request.candidate} is not a replica of this cluster (replicas: ${replicas.map((peer) => peer.name).join(', ')})`);
  }
  const eligible = handoverCandidates(observation, context, false);
  const chosen = request.candidate ?? eligible[0]?.name;
  if (chosen === undefined) return refuse('no replica can take over (every one is unreachable, down, errant or terminating)');
  if (!eligible.some((peer) => peer.name === chosen)) {
    return refuse(`${chosen} cannot take over: ${whyNotCandidate(observation.peers.find((peer) => peer.name === chosen))}`);
  }
  const candidate = replicas.find((peer) => peer.name === chosen)!;
  const which = request.candidate === null ? 'the most advanced replica' : 'the requested replica';
  return decision(
    'primary-handing-over',
    { kind: 'hand-over', candidate, timeoutMs: context.handOverTimeoutMs },
    `planned switchover to ${chosen} (${which}): stopping writes on ${self.name}, then handing over the lease once ${chosen} has applied everything`,
  );
}

/**
 * The pod is being deleted. A serving primary hands the lease to the best replica (as a
 * switchover); a primary that cannot, or that is not serving yet, stops writes and releases the
 * lease rather than leaving it to expire; a writable node is still fenced; anything else has
 * nothing to do before its mysqld stops ('stopping'), and a terminating node never takes a lease.
 */
function decideTermination(observation: Observation, node: Decision, context: DecideContext): Decision {
  const { self } = context.topology;
  const { lease, mysql } = observation;
  if (node.state === 'fencing' || node.state === 'replica-writable') return node;
  const mine = lease.state === 'held' && lease.mine;
  if (mine && node.state === 'primary-serving') {
    const [best] = handoverCandidates(observation, context, true);
    const candidate = best && context.topology.peers.find((peer) => peer.name === best.name);
    // A hand-over must end in time to step down instead, before the agent's own limit.
    const leftMs = context.terminationTimeoutMs - STEP_DOWN_RESERVE_MS - (observation.at - observation.controls.terminatingSince!);
    if (candidate && leftMs < MIN_HAND_OVER_MS) {
      return decision(
        'primary-stepping-down',
        { kind: 'step-down' },
        `pod terminating for ${seconds(observation.at - observation.controls.terminatingSince!)} and no hand-over done: ` +
          `stopping writes and releasing the lease before the agent's limit (${seconds(context.terminationTimeoutMs)})`,
      );
    }
    if (candidate) {
      const newer =
        best!.revision !== null && context.topology.revision !== null && best!.revision !== context.topology.revision
          ? ', already on the new pod revision'
          : '';
      return decision(
        'primary-handing-over',
        { kind: 'hand-over', candidate, timeoutMs: Math.min(context.handOverTimeoutMs, leftMs) },
        `pod terminating: handing the lease over to ${candidate.name} (the best replica${newer}) before mysqld stops`,
      );
    }
    const why = observation.peers.map((peer) => `${peer.name}: ${whyNotCandidate(peer)}`).join('; ') || 'no replicas';
    return decision(
      'primary-stepping-down',
      { kind: 'step-down' },
      `pod terminating and no replica can take over (${why}): stopping writes and releasing the lease rather than holding it to expiry`,
    );
  }
  if (mine && !mysql.up) {
    return decision(
      'primary-releasing',
      { kind: 'release-lease' },
      `pod terminating with mysqld down (${mysql.error}): releasing the lease so a replica takes over`,
    );
  }
  if (mine) {
    return decision(
      'primary-stepping-down',
      { kind: 'step-down' },
      `pod terminating before ${self.name} serves as primary (${node.reason}): releasing the lease so a replica takes over`,
    );
  }
  return decision('stopping', none, `pod terminating: ${self.name} holds no lease, nothing to hand over (was: ${node.reason}); mysqld may stop`);
}

/**
 * How long the lease holder keeps its lease while its mysqld is down. A process that is gone
 * (connection refused) will not answer within a grace (crash recovery takes longer than a
 * failover), so by default it gets none; one that listens but does not answer gets the grace.
 */
export function mysqldDownGrace(mysql: MysqlDown, graces: Pick<DecideContext, 'mysqldDownGraceMs' | 'mysqldGoneGraceMs'>): number {
  return mysql.gone === true ? graces.mysqldGoneGraceMs : graces.mysqldDownGraceMs;
}

/**
 * A lease released at once (its holder's mysqld gone) is free before the replicas have looked
 * again: a view of mysqld taken before then may lack the last transactions it received from the
 * old primary, and the election would pass over the node that has them (it then holds errant
 * transactions, or an acknowledged write is lost). So after a release, an election waits until
 * its own observation and every answering peer's looked at mysqld after seeing the lease free,
 * asking the peers to look again, for at most `peerViewsWaitMs` (a peer busy with a long action
 * publishes no new view). An expired lease needs no wait: its holder stopped a TTL ago.
 */
function staleViews(observation: Observation, lease: Extract<LeaseView, { state: 'free' }>, others: PeerStatus[], context: DecideContext): Decision | null {
  if (lease.record !== null || observation.at - lease.freeSince >= context.peerViewsWaitMs) return null;
  const self = observedSinceLeaseFree(observation) ? [] : [context.topology.self.name];
  const peers = others.filter((peer) => peer.unreachable === null && peer.mysqldUp && !peer.viewedSinceLeaseFree).map((peer) => peer.name);
  const stale = [...self, ...peers];
  if (stale.length === 0) return null;
  return decision(
    'waiting-for-peer-views',
    { kind: 'nudge-peers' },
    `the lease was released: waiting for views of mysqld taken since (${stale.join(', ')} looked before, and may lack the last transactions received); asking the peers to look again`,
  );
}

/** Whether this observation looked at mysqld after its agent saw the lease free (`/status` tells peers, an election needs it). */
export function observedSinceLeaseFree(observation: Pick<Observation, 'at' | 'lease'>): boolean {
  return observation.lease.state === 'free' && observation.at > observation.lease.freeSince;
}

function decideNode(observation: Observation, context: DecideContext): Decision {
  const { mysql, lease } = observation;
  const self = context.topology.self.name;

  // Fencing comes first: a writable node that does not safely hold the lease stops taking
  // writes, hung or not (ending its client sessions frees a server stuck on commits).
  const writable = mysql.up ? !mysql.variables.readOnly : mysql.answeredWritable === true;
  if (writable && !holdsLeaseNow(observation)) {
    const why =
      lease.state === 'unknown'
        ? `cannot renew the lease (${lease.error}) and it is about to run out`
        : lease.state === 'held' && !lease.mine
          ? `${lease.record.holder} holds the lease`
          : 'this node does not hold the lease';
    const hung = mysql.up ? '' : ` (its mysqld stopped answering: ${mysql.error})`;
    return decision('fencing', { kind: 'fence' }, `writable but ${why}${hung}: turning read-only on and ending client sessions`);
  }

  if (!mysql.up) {
    const down = observation.mysqldDownSince === null ? 0 : observation.at - observation.mysqldDownSince;
    const grace = mysqldDownGrace(mysql, context);
    if (lease.state === 'held' && lease.mine && down >= grace && !observation.controls.paused) {
      const what = mysql.gone === true ? `mysqld is gone (${mysql.error})` : `mysqld has not answered (${mysql.error})`;
      const why = grace === 0 ? what : `${what} for ${seconds(down)} (grace ${seconds(grace)})`;
      return decision('primary-releasing', { kind: 'release-lease' }, `${why}: releasing the lease so a replica takes over`);
    }
    return decision('mysqld-down', none, `waiting for the local mysqld: ${mysql.error}`);
  }

  if (lease.state === 'unknown') {
    if (holdsLeaseNow(observation)) {
      const { failsafe } = observation;
      const why =
        failsafe.state === 'confirmed'
          ? `every peer (${failsafe.peers.join(', ')}) confirmed it follows ${self} and cannot reach the store either: staying writable (failsafe)`
          : `still primary until the lease runs out${failsafe.state === 'refused' ? ` (no failsafe: ${failsafe.why})` : ''}`;
      return decision('primary-serving', none, `lease store unreachable (${lease.error}); ${why}`);
    }
    return decision('lease-unknown', none, `lease store unreachable: ${lease.error}; replication left as it is`);
  }
  if (lease.state === 'held') {
    if (lease.mine) return decidePrimary(observation, mysql, context);
    return decideReplica(observation, mysql, primaryOf(observation, context.topology)!, context);
  }
  return decideElection(observation, mysql, context, self);
}

function decidePrimary(observation: Observation, mysql: MysqlUp, context: DecideContext): Decision {
  const name = context.topology.self.name;
  const pods = context.topology.peers.length;
  const acks = semiSyncAcks(pods, context.lossless, context.maxSemiSyncAcks);
  if (!holdsLeaseNow(observation)) return decision('primary-read-only', none, `${name} holds the lease but has not renewed it yet`);
  const replica = mysql.replica;
  if (replica !== null) {
    if (!replica.sqlRunning && replica.lastSqlError !== '') {
      return decision(
        'primary-releasing',
        { kind: 'release-lease' },
        `cannot promote ${name}: its relay log stopped on an error (${replica.lastSqlError}); releasing the lease`,
      );
    }
    const pending = context.subtractGtids(replica.retrievedGtids, mysql.variables.gtidExecuted);
    if (pending !== '') {
      return decision(
        'primary-catching-up',
        { kind: 'catch-up' },
        `${name} holds the lease: applying its relay log before promotion (still to apply: ${pending})`,
      );
    }
    return decision('primary-promoting', { kind: 'promote', semiSyncAcks: acks }, `${name} holds the lease and has applied everything it received: promoting`);
  }
  if (mysql.variables.readOnly || mysql.variables.semiSyncSource !== context.lossless) {
    const waits = context.lossless ? `, turning semi-sync on (commits wait for ${acks} of the replicas)` : '';
    return decision(
      'primary-read-only',
      { kind: 'setup-primary', semiSyncAcks: acks },
      `${name} is the primary but not serving yet: creating accounts, lifting read-only${waits}`,
    );
  }
  const serving = `${name} is the primary and writable (lease term ${observation.lease.state === 'held' ? observation.lease.record.term : '?'})`;
  if (context.lossless && mysql.variables.semiSyncAcks !== acks) {
    return decision(
      'primary-serving',
      { kind: 'set-semi-sync-acks', count: acks },
      `${serving}; with ${pods} pods a commit must wait for ${acks} acknowledgement${acks === 1 ? '' : 's'} (now ${mysql.variables.semiSyncAcks}): changing it`,
    );
  }
  if (observation.passwordsChanged.accounts) {
    return decision(
      'primary-serving',
      { kind: 'rotate-passwords' },
      `${serving}; setting the Secret's replication and application passwords on their accounts ` +
        '(changed, or not set by this agent yet; binlogged, so every replica gets them)',
    );
  }
  return decision('primary-serving', none, serving);
}

function followsPrimary(mysql: MysqlUp, primary: Peer, topology: Topology): boolean {
  const replica = mysql.replica;
  return replica !== null && replica.sourceHost === primary.host && replica.sourcePort === topology.mysqlPort;
}

/** A replica that has yet to pick its source needs the primary's /binlog-position first. */
export function needsPrimaryPosition(observation: Pick<Observation, 'mysql' | 'lease'>, topology: Topology): Peer | null {
  const { mysql, lease } = observation;
  if (!mysql.up || lease.state !== 'held' || lease.mine) return null;
  const primary = topology.peers.find((peer) => peer.name === lease.record.holder);
  return primary && !followsPrimary(mysql, primary, topology) ? primary : null;
}

/** This node's transactions its primary never had, less the primary's own (those may still be on their way to it). */
function errantGtids(mysql: MysqlUp, primary: { gtidExecuted: string; serverUuid: string }, context: DecideContext): string[] {
  return context
    .subtractGtids(mysql.variables.gtidExecuted, primary.gtidExecuted)
    .split(',')
    .filter((member) => member !== '' && !context.originatesFrom(member, primary.serverUuid));
}

const beyondBinlogsFix = (context: DecideContext) =>
  context.copyUnavailable === null
    ? 'reinit it (mysql-ha-agent reinit POD: a copy of another pod) or restore a recent backup'
    : `rebuild it by hand from a recent backup (it cannot copy another pod: ${context.copyUnavailable})`;

/** The fix for a replica with transactions the primary never had, whatever wrote them. */
const errantFix = (context: DecideContext) =>
  context.copyUnavailable === null
    ? 'reinit this replica (mysql-ha-agent reinit POD: a copy of another pod) or apply those transactions on the primary'
    : 'rebuild this replica from the primary (delete its data volume) or apply those transactions on the primary';

/** The primary this node replicates from now: its GTIDs are read on every observation to find errant transactions. */
export function followedPrimary(observation: Pick<Observation, 'mysql' | 'lease'>, topology: Topology): Peer | null {
  const { mysql, lease } = observation;
  if (!mysql.up || lease.state !== 'held' || lease.mine) return null;
  const primary = topology.peers.find((peer) => peer.name === lease.record.holder);
  return primary && followsPrimary(mysql, primary, topology) ? primary : null;
}

function decideReplica(observation: Observation, mysql: MysqlUp, primary: Peer, context: DecideContext): Decision {
  const replica = mysql.replica;
  if (!mysql.variables.readOnly) {
    return decision('replica-writable', { kind: 'fence' }, `replica of ${primary.name} is writable: turning read-only on`);
  }
  if (mysql.variables.semiSyncSource) {
    return decision(
      'replica-demoting',
      { kind: 'fence' },
      `replica of ${primary.name} still has the semi-sync source on (from its time as primary): turning it off before it replicates`,
    );
  }
  if (replica === null || !followsPrimary(mysql, primary, context.topology)) {
    const state = replica === null ? 'replica-unconfigured' : 'replica-wrong-source';
    const why = replica === null ? 'no replication configured' : `replicating from ${replica.sourceHost}:${replica.sourcePort}, not ${primary.name}`;
    const probe = observation.primaryPosition;
    if (probe.state !== 'ready') {
      const detail = probe.state === 'waiting' ? `attempt ${probe.attempts}: ${probe.lastError}` : 'not asked yet';
      return decision('replica-waiting-for-primary', none, `${why}; waiting for ${primary.name}'s /binlog-position (${detail})`);
    }
    const errant = errantGtids(mysql, probe.position, context);
    if (errant.length > 0) {
      const gtids = errant.join(',');
      const ownOnly = errant.every((member) => context.originatesFrom(member, mysql.variables.serverUuid));
      if (ownOnly && context.canClone && context.lossless) {
        return decision(
          'replica-rebuilding',
          { kind: 'rebuild', donor: primary },
          `this node has transactions of its own that ${primary.name} never had (errant GTIDs ${gtids}), written while it was primary ` +
            'and never acknowledged to a client (lossless mode): discarding them with a copy of ' +
            primary.name,
        );
      }
      const notAutomatic = !ownOnly
        ? ''
        : context.lossless
          ? ' (written while it was primary; automatic rebuild is off or this server cannot clone)'
          : ' (asynchronous mode: clients may have seen them committed, so they are not discarded automatically)';
      return decision(
        'replica-errant',
        none,
        `refusing to follow ${primary.name}: this node has transactions the primary never had (errant GTIDs ${gtids})${notAutomatic}; ${errantFix(context)}`,
      );
    }
    const purgedHere = context.subtractGtids(probe.position.gtidPurged, mysql.variables.gtidExecuted);
    if (purgedHere !== '') {
      const lacking = `${primary.name} no longer has binary logs holding transactions this node lacks (${purgedHere})`;
      if (context.canClone) {
        return decision('replica-rebuilding', { kind: 'rebuild', donor: primary }, `${lacking}: copying ${primary.name} (this node has nothing it lacks)`);
      }
      return decision('replica-beyond-binlogs', none, `${lacking}; automatic rebuild is off: ${beyondBinlogsFix(context)}`);
    }
    return decision(state, { kind: 'configure-replication', source: primary }, `${why}: following ${primary.name} with GTID auto-positioning`);
  }
  // Checked on every observation, not only when replication is set up: a write past read-only
  // (MariaDB's READ_ONLY ADMIN, or MySQL's super_read_only lifted by hand) leaves a replica
  // streaming, and it must neither serve reads nor be elected with data nobody else has.
  const foreign = observation.primaryGtids.state === 'known' ? errantGtids(mysql, observation.primaryGtids, context) : [];
  if (foreign.length > 0) {
    return decision(
      'replica-errant',
      none,
      `following ${primary.name}, but this node has transactions the primary never had (errant GTIDs ${foreign.join(',')}), ` +
        `written here past read-only: unhealthy and never a failover candidate until fixed; ${errantFix(context)}`,
    );
  }
  if (!replica.sqlRunning && replica.lastSqlError !== '') {
    return decision(
      'replica-sql-error',
      none,
      `replication from ${primary.name} stopped on an error (never skipped): ${replica.lastSqlError}; ` +
        'repair the data on this replica, then run START REPLICA',
    );
  }
  if (!replica.sqlRunning) {
    return decision('replica-stopped', { kind: 'start-replication' }, `replication from ${primary.name} is configured but stopped: starting it`);
  }
  if (!replica.ioRunning && observation.passwordsChanged.replication) {
    // A stream keeps working after the password changes; only a new connection needs the new one.
    return decision(
      'replica-connecting',
      { kind: 'configure-replication', source: primary },
      `not connected to ${primary.name}, and replication was not configured by this agent with the Secret's replication password ` +
        '(it changed, or the channel came with a copy of another pod): configuring it again',
    );
  }
  if (!replica.ioRunning && replica.sourcePurgedBinlogs) {
    // Errant transactions were ruled out when replication was configured; MariaDB keeps no purged
    // set to compare with beforehand, so this is where it finds out.
    const lacking = `${primary.name} no longer has binary logs holding transactions this node lacks (${replica.lastIoError})`;
    if (context.canClone) return decision('replica-rebuilding', { kind: 'rebuild', donor: primary }, `${lacking}: copying ${primary.name}`);
    return decision('replica-beyond-binlogs', none, `${lacking}; automatic rebuild is off: ${beyondBinlogsFix(context)}`);
  }
  if (replica.ioState === 'No') {
    const error = replica.lastIoError === '' ? '' : ` (last error: ${replica.lastIoError})`;
    return decision('replica-io-stopped', { kind: 'start-io-thread' }, `IO thread from ${primary.name} stopped${error}: restarting it`);
  }
  if (!replica.ioRunning) {
    const error = replica.lastIoError === '' ? '' : `: ${replica.lastIoError}`;
    return decision('replica-connecting', none, `connecting to ${primary.name}${error}`);
  }
  return decision('replica-streaming', none, `following ${primary.name}: IO and SQL threads running, lag ${replica.lagSeconds ?? '?'} s`);
}

interface Candidate {
  name: string;
  ordinal: number;
  transactions: number;
  priority: number;
}

const ordinalOf = (name: string) => Number(/(\d+)$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);

/**
 * The lease is free. A new cluster's first lease goes to the bootstrap primary; after that to
 * the most advanced node (most transactions executed or received, no errant ones; the lowest
 * ordinal on a tie), and only when every other node could be asked: an acknowledged write may
 * exist on one replica only, so electing without seeing all of them could lose it.
 */
function decideElection(observation: Observation, mysql: MysqlUp, context: DecideContext, self: string): Decision {
  const lease = observation.lease as Extract<Observation['lease'], { state: 'free' }>;
  const expectedVersion = lease.record?.version ?? null;
  const { bootstrapPrimary } = context.topology;
  if (!lease.bootstrapped) {
    if (self === bootstrapPrimary) {
      return electing(expectedVersion, `new cluster: ${self}, the bootstrap primary, takes the first lease`);
    }
    return decision('waiting-for-election', none, `new cluster: waiting for the bootstrap primary ${bootstrapPrimary} to take the first lease`);
  }
  const formerHolder = lease.record?.holder ?? lease.lastHolder;
  // Taking back one's own lease is no failover: allowed while paused or inside the window.
  const retake = electing(expectedVersion, `the lease is free and ${self} held it last: taking it back`);
  if (observation.controls.paused) {
    return self === formerHolder ? retake : decision('waiting-for-election', none, 'the lease is free but automatic failover is paused (maintenance)');
  }
  const holdBack = formerHolder === null ? null : failoverHoldBack(observation.leaseChanges, observation.at, context.failoverWindowMs);
  if (holdBack !== null) {
    if (self === formerHolder) return retake;
    return decision(
      'waiting-for-election',
      none,
      `the lease is free, but this would be quick failover number ${holdBack.quickFailovers} in a row (only ${QUICK_FAILOVERS_ALLOWED} happen at once; ` +
        `anti-flapping window ${seconds(context.failoverWindowMs)}): holding it back ${seconds(holdBack.waitMs)} more`,
    );
  }
  const promise = observation.controls.failsafePromise;
  if (promise !== null && promise.primary !== self && observation.at < promise.until) {
    return decision(
      'waiting-for-election',
      none,
      `the lease is free, but ${self} promised ${promise.primary} (failsafe while the lease store was unreachable) ` +
        `not to take it for ${seconds(promise.until - observation.at)} more`,
    );
  }
  // Enough of the replicas must answer that one of them holds every acknowledged write
  // (agent/loop/quorum.ts): all of them with three pods, any three of four with five.
  const pods = context.topology.peers.length;
  const acks = semiSyncAcks(pods, context.lossless, context.maxSemiSyncAcks);
  const quorum = electionQuorum(pods, acks);
  const others = observation.peers.filter((peer) => peer.name !== formerHolder);
  const blockers = others.filter((peer) => peer.unreachable !== null || !peer.mysqldUp);
  if (others.length - blockers.length + 1 < quorum) {
    const why = blockers.map((peer) => `${peer.name} ${peer.unreachable ?? 'has mysqld down'}`).join('; ');
    const needed =
      quorum === pods - 1 ? "every replica's transactions" : `the transactions of ${quorum} of the ${pods - 1} replicas (commits wait for ${acks})`;
    return decision('waiting-for-election', none, `the lease is free but no election without ${needed}: ${why}`);
  }
  const stale = staleViews(observation, lease, others, context);
  if (stale !== null) return stale;
  // A peer that cannot reach the store cannot take the lease: waiting for it would stall the
  // election (a fenced old primary cut off from the store, often the most advanced). Nor can
  // a terminating one: it is about to stop.
  // Nor can one whose tags say it is never promoted.
  const canTakeLease = (peer: PeerStatus) => peer.storeUnreachable === null && !peer.terminating && neverPromotedBecause(peer.tags) === null;
  const candidates: Candidate[] = observation.peers
    .filter((peer) => peer.unreachable === null && peer.mysqldUp && !peer.errant && canTakeLease(peer))
    .map((peer) => ({ name: peer.name, ordinal: ordinalOf(peer.name), transactions: transactionsOf(peer, context), priority: peer.tags.failoverPriority }));
  const { tags } = context.topology;
  const ownTransactions = context.countGtids(mysql.variables.gtidExecuted, mysql.replica?.retrievedGtids ?? '');
  const selfTagged = neverPromotedBecause(tags);
  if (!observation.selfErrant && selfTagged === null) {
    candidates.push({ name: self, ordinal: ordinalOf(self), transactions: ownTransactions, priority: tags.failoverPriority });
  }
  // The most advanced; among equally advanced ones the highest failover priority, then the lowest ordinal.
  candidates.sort((a, b) => b.transactions - a.transactions || b.priority - a.priority || a.ordinal - b.ordinal);
  const best = candidates[0];
  if (!best)
    return decision(
      'waiting-for-election',
      none,
      'the lease is free but no node can take it (every one is errant, down, cut off from the lease store or tagged never to be promoted)',
    );
  // Promoting anyone else past a node whose tags keep it could lose an acknowledged write only it holds.
  const taggedAhead = (name: string, tagged: string) =>
    decision(
      'waiting-for-election',
      none,
      `the lease is free but ${name}, which has more transactions than any candidate, cannot take it (${tagged}): ` +
        'no failover, since only it may hold acknowledged writes; clear its tag, or fail over by hand knowing what would be lost',
    );
  if (selfTagged !== null && !observation.selfErrant && ownTransactions > best.transactions) return taggedAhead(self, selfTagged);
  // A replica that cannot take the lease may still hold the only copy of an acknowledged write.
  // (The former holder's surplus is not waited for: what no replica has was never acknowledged.)
  const ahead = observation.peers.find(
    (peer) => !canTakeLease(peer) && peer.name !== formerHolder && !peer.errant && peer.mysqldUp && transactionsOf(peer, context) > best.transactions,
  );
  if (ahead) {
    const tagged = neverPromotedBecause(ahead.tags);
    if (tagged !== null) return taggedAhead(ahead.name, tagged);
    const why = ahead.storeUnreachable === null ? 'is terminating' : `cannot reach the lease store (${ahead.storeUnreachable})`;
    return decision(
      'waiting-for-election',
      none,
      `the lease is free but ${ahead.name}, which has more transactions than any candidate, ${why}: waiting for it`,
    );
  }
  const gone = formerHolder ? ` (${formerHolder} gave it up or its lease expired)` : '';
  if (best.name === self) {
    return electing(expectedVersion, `the lease is free${gone}: ${self} is the most advanced candidate (${best.transactions} transactions): taking it`);
  }
  return decision(
    'waiting-for-election',
    none,
    `the lease is free${gone}: ${best.name} is the most advanced candidate (${best.transactions} transactions); waiting for it to take the lease`,
  );
}
