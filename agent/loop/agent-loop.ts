import type { Peer, RunConfig } from '../config.ts';
import type { LeaseKeeper, LeaseObservation } from '../coordination/lease-keeper.ts';
import { explain } from '../errors.ts';
import type { AgentMetrics } from '../http/metrics.ts';
import type { PeerFailsafeAnswer } from '../http/peer-control.ts';
import type { PrimaryPositionWatcher } from '../http/primary-position-watcher.ts';
import type { PodRolePublisher } from '../kubernetes/pod-role-publisher.ts';
import type { Logger } from '../log.ts';
import type { Dialect } from '../mysql/dialect/index.ts';
import type { MysqlObserver } from '../mysql/observer.ts';
import type { Actuator } from './actuator.ts';
import type { Clock } from './clock.ts';
import type { ControlInbox, SwitchoverOutcome } from './controls.ts';
import { decide, ERRANT_STATES, followedPrimary, mysqldDownGrace, needsPrimaryPosition } from './decide.ts';
import { actionEvent } from './events.ts';
import { checkContext, healthCheck, roleOf, stopsWrites } from './health.ts';
import { type LookState, nextLook, SETTLED } from './next-look.ts';
import type { SnapshotBoard } from './snapshot.ts';
import type { Decision, FailsafeView, Observation, PeerStatus, PrimaryGtidsProbe, SwitchoverRequest } from './state.ts';

/** The loop's collaborators: adapters that do I/O, and the board it publishes its results on. */
export interface AgentParts {
  config: Pick<RunConfig, 'loopIntervalMs' | 'lossless' | 'autoRebuild' | 'maxLagSeconds' | 'timings'>;
  dialect: Pick<Dialect, 'subtractGtids' | 'countGtids' | 'originatesFrom' | 'maxSemiSyncAcks'>;
  /** Why this node cannot replace its data with a copy of another's (null: it can, by clone or streamed backup). */
  copyUnavailable: string | null;
  observer: Pick<MysqlObserver, 'observe'>;
  lease: Pick<LeaseKeeper, 'observe' | 'extendByFailsafe'>;
  watcher: Pick<PrimaryPositionWatcher, 'probe' | 'reset' | 'pollNow'>;
  actuator: Pick<Actuator, 'run' | 'passwordsChanged'>;
  /** The cluster's pods now (this one included): fixed, or following the StatefulSet's replica count. */
  peers: { readonly current: Peer[] };
  /** Asks the other agents for their /status; one that does not answer is data. */
  observePeers: (timeoutOf: (peer: string) => number) => Promise<PeerStatus[]>;
  /** The executed GTIDs of the primary this node streams from (its /binlog-position); one that does not answer is data. */
  readPrimaryGtids: (primary: Peer) => Promise<PrimaryGtidsProbe>;
  /** Asks the other agents to confirm the failsafe (agent/loop/failsafe.ts); one that does not answer refuses. */
  askFailsafe: (timeoutMs: number) => Promise<PeerFailsafeAnswer[]>;
  metrics: Pick<AgentMetrics, 'record' | 'actionFailed' | 'reinitDone'>;
  /** Keeps the pod's role label (and Events) current; a no-op outside Kubernetes. */
  rolePublisher: Pick<PodRolePublisher, 'publishRole' | 'recordEvent'>;
  log: Logger;
  board: SnapshotBoard;
  controls: ControlInbox;
  clock: Clock;
}

/** Peers answer /status from memory; a slow one is as good as absent for an election. */
const ELECTION_PEER_TIMEOUT_MS = 500;
/**
 * The lease's former holder is asked too (alive, it answers at once and may be the best
 * candidate), but a lost pod's address drops packets: it must not hold every election for
 * the whole wait above.
 */
const FORMER_HOLDER_PEER_TIMEOUT_MS = 100;
/** A switchover's candidate must have applied everything within this long, or nothing moves. */
const HAND_OVER_TIMEOUT_MS = 30_000;
/** A failsafe round must end well within the fencing margin. */
const FAILSAFE_PEER_TIMEOUT_MS = 500;
/** A switchover or a reinit is asked for by a human, who can wait a little longer for a busy peer. */
const REQUEST_PEER_TIMEOUT_MS = 1000;

/**
 * The one-way loop: observe (requests included) → decide → act → publish, once per interval,
 * never ending on an error. Nothing else acts on the node or writes the snapshot.
 */
export class AgentLoop {
  readonly #parts: AgentParts;
  #timer: NodeJS.Timeout | undefined;
  #wakeRequested = false;
  #looks: LookState = SETTLED;
  #stopped = false;
  #mysqldDownSince: number | null = null;

  constructor(parts: AgentParts) {
    this.#parts = parts;
    parts.controls.onRequest(() => this.wake());
  }

  start(): void {
    void this.#tickAndReschedule();
  }

  /** Runs the next tick now rather than at its time: new data arrived. A tick under way is followed by another at once. */
  wake(): void {
    if (this.#stopped) return;
    // A peer may have said its mysqld is ready as primary (a nudge): the position is worth asking for now.
    this.#parts.watcher.pollNow();
    if (this.#timer === undefined) {
      this.#wakeRequested = true;
      return;
    }
    clearTimeout(this.#timer);
    void this.#tickAndReschedule();
  }

  async #tickAndReschedule(): Promise<void> {
    this.#timer = undefined;
    this.#wakeRequested = false;
    const acted = await this.tick();
    const next = nextLook(this.#looks, acted, this.#wakeRequested || this.#holderLosingMysqld(), this.#parts.config.loopIntervalMs);
    this.#looks = next.state;
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#tickAndReschedule(), Math.min(next.delayMs, this.#untilLeaseExpiry()));
  }

  /** A lease another node holds will be judged expired before the next tick: look at that moment, so the election starts at once. */
  #untilLeaseExpiry(): number {
    const lease = this.#parts.board.current.observation?.lease;
    if (lease?.state !== 'held' || lease.mine) return Number.POSITIVE_INFINITY;
    // Expired is "longer than the TTL since the version was first seen": one millisecond past it.
    return Math.max(0, lease.expiresAt + 1 - this.#parts.clock.now());
  }

  /**
   * The lease holder's mysqld stopped answering but is not known gone: a server being killed
   * resets the first connection and refuses the next, and only a refusal lets the lease go at once.
   */
  #holderLosingMysqld(): boolean {
    const { observation } = this.#parts.board.current;
    if (observation === null || observation.mysql.up || observation.mysql.gone === true || observation.controls.paused) return false;
    return observation.lease.state === 'held' && observation.lease.mine;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#parts.watcher.reset();
    this.#parts.controls.close();
  }

  async #observe(): Promise<Observation> {
    const { config, observer, lease, watcher, board, controls, clock } = this.#parts;
    const requests = controls.read();
    const peers = this.#parts.peers.current;
    if (peers !== board.current.topology.peers) board.publish({ topology: { ...board.current.topology, peers } });
    const now = clock.now();
    const mysql = await observer.observe(now);
    this.#mysqldDownSince = mysql.up ? null : (this.#mysqldDownSince ?? now);
    const downFor = this.#mysqldDownSince === null ? 0 : now - this.#mysqldDownSince;
    // While paused the holder keeps its lease even with mysqld down: no automatic failover.
    // (A grace of 0 lets it go at the first failed look, never while mysqld answers.)
    const leaseObservation = await lease.observe(requests.paused || mysql.up || downFor < mysqldDownGrace(mysql, config.timings));
    const failsafe = await this.#failsafe(leaseObservation, now);
    const { topology, decision } = board.current;
    const primary = needsPrimaryPosition({ mysql, lease: leaseObservation.lease }, topology);
    if (!primary) watcher.reset();
    // After this node's own GTIDs were read: everything it got from the primary is in the primary's.
    const followed = followedPrimary({ mysql, lease: leaseObservation.lease }, topology);
    // Peers are asked only when a decision needs them: an election, a hand-over's candidate, a reinit's donor.
    const handingOver =
      requests.switchover !== null || (requests.terminatingSince !== null && leaseObservation.lease.state === 'held' && leaseObservation.lease.mine);
    const { lease: leaseView } = leaseObservation;
    const peerTimeoutMs = leaseView.state === 'free' ? ELECTION_PEER_TIMEOUT_MS : handingOver || requests.reinit !== null ? REQUEST_PEER_TIMEOUT_MS : null;
    const formerHolder = leaseView.state === 'free' ? (leaseView.record?.holder ?? leaseView.lastHolder) : null;
    const timeoutOf = (peer: string) => (peer === formerHolder ? FORMER_HOLDER_PEER_TIMEOUT_MS : peerTimeoutMs!);
    return {
      at: now,
      mysql,
      primaryPosition: primary ? watcher.probe(primary) : { state: 'not-needed' },
      primaryGtids: followed ? await this.#parts.readPrimaryGtids(followed) : { state: 'not-needed' },
      ...leaseObservation,
      heldUntil: failsafe.heldUntil,
      failsafe: failsafe.view,
      mysqldDownSince: this.#mysqldDownSince,
      peers: peerTimeoutMs === null ? [] : await this.#parts.observePeers(timeoutOf),
      selfErrant: ERRANT_STATES.has(decision?.state ?? ''),
      controls: requests,
      passwordsChanged: this.#parts.actuator.passwordsChanged(),
    };
  }

  /** The lease store is unreachable while this node holds the lease: every peer may confirm the failsafe. */
  async #failsafe(observed: LeaseObservation, now: number): Promise<{ view: FailsafeView; heldUntil: number | null }> {
    const { heldUntil } = observed;
    if (observed.lease.state !== 'unknown' || heldUntil === null || now >= heldUntil) return { view: { state: 'not-needed' }, heldUntil };
    const askedAt = this.#parts.clock.now();
    const answers = await this.#parts.askFailsafe(FAILSAFE_PEER_TIMEOUT_MS);
    const refused = answers.filter(({ answer }) => !answer.ok);
    if (answers.length === 0) return { view: { state: 'refused', why: 'no peers to confirm it' }, heldUntil };
    if (refused.length > 0) return { view: { state: 'refused', why: refused.map(({ name, answer }) => `${name}: ${answer.reason}`).join('; ') }, heldUntil };
    return { view: { state: 'confirmed', peers: answers.map(({ name }) => name) }, heldUntil: this.#parts.lease.extendByFailsafe(askedAt) };
  }

  #decide(observation: Observation): Decision {
    const { config, dialect, board } = this.#parts;
    return decide(observation, {
      topology: board.current.topology,
      subtractGtids: dialect.subtractGtids,
      countGtids: dialect.countGtids,
      originatesFrom: dialect.originatesFrom,
      mysqldDownGraceMs: config.timings.mysqldDownGraceMs,
      mysqldGoneGraceMs: config.timings.mysqldGoneGraceMs,
      // Two looks by each peer, each with a store call.
      peerViewsWaitMs: 2 * (config.loopIntervalMs + config.timings.storeTimeoutMs),
      handOverTimeoutMs: HAND_OVER_TIMEOUT_MS,
      terminationTimeoutMs: config.timings.terminationTimeoutMs,
      failoverWindowMs: config.timings.failoverWindowMs,
      lossless: config.lossless,
      canClone: config.autoRebuild && this.#parts.copyUnavailable === null,
      maxSemiSyncAcks: dialect.maxSemiSyncAcks,
      copyUnavailable: this.#parts.copyUnavailable,
    });
  }

  /** One observe → decide → act → publish round; returns whether it acted successfully (then the next look comes soon). */
  async tick(): Promise<boolean> {
    const { config, watcher, actuator, metrics, rolePublisher, log, board, controls, clock } = this.#parts;
    const started = clock.now();
    const observation = await this.#observe();
    const decision = this.#decide(observation);
    const previous = board.current;
    if (decision.reason !== previous.decision?.reason) log.info({ state: decision.state, action: decision.action.kind }, decision.reason);
    // Published before acting, so /status explains a long action (a clone, a hand-over) while it runs.
    board.publish({ observation, decision, heartbeatAt: clock.now(), writesStoppedBy: null });

    if (decision.state === 'stopping') controls.terminated();
    const request = observation.controls.switchover;
    if (request !== null && decision.switchoverRefused !== undefined) {
      log.warn({ candidate: request.candidate }, `switchover refused: ${decision.switchoverRefused}`);
      this.#answerSwitchover(request, { ok: false, reason: decision.switchoverRefused });
    }
    // A reinit is answered once decided: the copy may run for hours, and /status shows it meanwhile.
    const reinit = observation.controls.reinit;
    if (reinit !== null) {
      const outcome =
        decision.reinitRefused !== undefined || decision.action.kind !== 'rebuild'
          ? { ok: false as const, reason: decision.reinitRefused ?? decision.reason }
          : { ok: true as const, donor: decision.action.donor.name, reason: decision.reason };
      if (!outcome.ok) log.warn({ donor: reinit.donor }, `reinit refused: ${outcome.reason}`);
      controls.answerReinit(reinit, outcome);
    }
    // A restart is answered once done (below), or now when refused.
    const restart = observation.controls.restart;
    if (restart !== null && decision.restartRefused !== undefined) {
      log.warn(`restart refused: ${decision.restartRefused}`);
      controls.answerRestart(restart, { ok: false, reason: decision.restartRefused });
    }
    // So is a failover by hand: the promotion follows on the next ticks, as after an election.
    const failover = observation.controls.failover;
    if (failover !== null) {
      const taking = decision.failoverRefused === undefined && decision.action.kind === 'acquire-lease';
      if (!taking) log.warn({ force: failover.force }, `manual failover refused: ${decision.failoverRefused ?? decision.reason}`);
      controls.answerFailover(failover, { ok: taking, reason: decision.failoverRefused ?? decision.reason });
    }
    let actionError = previous.actionError;
    let acted = false;
    if (decision.action.kind !== 'none') {
      const action = decision.action;
      const actionStarted = clock.now();
      board.publish({ runningAction: { kind: action.kind, since: actionStarted }, ...(stopsWrites(action.kind) && { writesStoppedBy: action.kind }) });
      try {
        const phases = await actuator.run(action);
        actionError = null;
        if (action.kind === 'configure-replication') watcher.reset();
        if (action.kind === 'rebuild') metrics.reinitDone();
        log.info({ action: action.kind, elapsedMs: Math.round(clock.now() - actionStarted), ...(phases && { phases }) }, 'action done');
        acted = true;
        if (action.kind === 'hand-over' && request !== null) {
          const handoverMs = Math.round(clock.now() - actionStarted);
          this.#answerSwitchover(request, { ok: true, from: board.current.topology.self.name, to: action.candidate.name, handoverMs });
        }
        if (action.kind === 'restart-mysqld' && restart !== null) {
          controls.answerRestart(restart, { ok: true, restartMs: Math.round(clock.now() - actionStarted), reason: decision.reason });
        }
        void rolePublisher.recordEvent(actionEvent(action, decision.reason, null));
      } catch (error) {
        actionError = `${action.kind} failed: ${explain(error)}`;
        // Once per distinct failure: an action retried every tick must not flood the pod's Events.
        if (actionError !== previous.actionError) void rolePublisher.recordEvent(actionEvent(action, decision.reason, explain(error)));
        metrics.actionFailed();
        log.warn({ action: action.kind, error: explain(error) }, 'action failed; deciding again on the next tick');
        if (action.kind === 'hand-over' && request !== null) {
          this.#answerSwitchover(request, { ok: false, reason: `switchover to ${action.candidate.name} failed: ${explain(error)}` });
        }
        if (action.kind === 'restart-mysqld' && restart !== null) controls.answerRestart(restart, { ok: false, reason: `restart failed: ${explain(error)}` });
      }
    }
    board.publish({ actionError, runningAction: null, heartbeatAt: clock.now() });
    const role = roleOf(observation);
    // Never rejects, and costs an API call only when the role changes (or once a minute).
    if (role !== 'unknown') void rolePublisher.publishRole(role, previousHolder(observation));
    metrics.record(
      observation,
      role,
      healthCheck(observation, checkContext(board.current, clock.now(), controls.terminating), config.maxLagSeconds),
      (clock.now() - started) / 1000,
      board.current.topology.self.name,
    );
    return acted;
  }

  #answerSwitchover(request: SwitchoverRequest, outcome: SwitchoverOutcome): void {
    this.#parts.controls.answer(request, outcome);
    this.#parts.board.publish({ lastSwitchover: { ...outcome, at: this.#parts.clock.now() } });
  }
}

/** The pod that held the lease before this one, when this agent saw the change. */
function previousHolder(observation: Observation): string | null {
  const changes = observation.leaseChanges;
  return changes.length >= 2 ? changes.at(-2)!.holder : null;
}
