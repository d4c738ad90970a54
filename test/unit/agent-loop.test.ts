// The loop on fake adapters and a fake clock: what one tick reads, decides, does and publishes,
// and how requests (pause, switchover) travel through it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseObservation } from '../../agent/coordination/lease-keeper.ts';
import { AgentError } from '../../agent/errors.ts';
import type { PeerFailsafeAnswer } from '../../agent/http/peer-control.ts';
import { AgentLoop } from '../../agent/loop/agent-loop.ts';
import { ControlInbox } from '../../agent/loop/controls.ts';
import type { PodEvent } from '../../agent/loop/events.ts';
import { SnapshotBoard } from '../../agent/loop/snapshot.ts';
import type { Action, MysqlObservation, PeerStatus, PrimaryGtidsProbe } from '../../agent/loop/state.ts';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';
import { captureLogger } from '../support/capture-logger.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { asPrimary, asReplica, FOREIGN, free, heldBy, NOW, OTHER, PRIMARY, peer, REPLICA, streaming, UUID0, up, variables } from '../support/observations.ts';

const GRACE_MS = 1500;

interface World {
  mysql: MysqlObservation;
  lease: LeaseObservation;
  peers: PeerStatus[];
  /** What the peers answer to a failsafe request (none: every one confirms). */
  failsafe?: PeerFailsafeAnswer[];
  /** Throws instead of acting, for this kind of action. */
  failing: Action['kind'] | null;
  /** What the followed primary's /binlog-position gives (default: it does not answer). */
  primaryGtids?: PrimaryGtidsProbe;
  /** What an action changes in the world. */
  afterAction?: (action: Action) => void;
}

function loopOf(topology: typeof asPrimary, world: World, graceMs = GRACE_MS) {
  const clock = new FakeClock(NOW);
  const { logger, lines } = captureLogger();
  const actions: Action[] = [];
  const keeps: boolean[] = [];
  const peerAsks: Array<Record<string, number>> = [];
  const extensions: number[] = [];
  const peerSet = { current: topology.peers };
  const failures: string[] = [];
  const events: PodEvent[] = [];
  const reads: string[] = [];
  const board = new SnapshotBoard({
    config: {
      pod: { name: topology.self.name, statefulSet: 'mysql-ha', ordinal: 0 },
      maxLagSeconds: 10,
      livenessTimeoutMs: 30_000,
      lossless: true,
      switchoverToken: null,
      tls: { files: null, requireSecureTransport: false },
    },
    topology,
    server: null,
    waitingFor: null,
    observation: null,
    decision: null,
    actionError: null,
    lastSwitchover: null,
    heartbeatAt: NOW - 10_000,
    runningAction: null,
    writesStoppedBy: null,
  });
  const controls = new ControlInbox(false);
  const loop = new AgentLoop({
    config: {
      loopIntervalMs: 60_000,
      lossless: true,
      autoRebuild: true,
      maxLagSeconds: 10,
      timings: {
        leaseTtlMs: 5000,
        renewPeriodMs: 1000,
        storeTimeoutMs: 1000,
        statusTimeoutMs: 1000,
        fenceMarginMs: 2500,
        mysqldDownGraceMs: graceMs,
        mysqldGoneGraceMs: 0,
        failoverWindowMs: 60_000,
        terminationTimeoutMs: 40_000,
        drainMs: 2000,
      },
    },
    dialect: dialectForFlavor('mysql'),
    copyUnavailable: 'mysql cannot copy here (a test)',
    observer: {
      observe: async () => {
        reads.push('own mysqld');
        return world.mysql;
      },
    },
    lease: {
      observe: async (keep) => {
        keeps.push(keep);
        return world.lease;
      },
      extendByFailsafe: (askedAt) => {
        extensions.push(askedAt);
        return askedAt + 2500;
      },
    },
    watcher: { probe: () => ({ state: 'waiting', attempts: 1, lastError: 'not asked in this test' }), reset: () => undefined, pollNow: () => undefined },
    actuator: {
      passwordsChanged: () => ({ accounts: false, replication: false }),
      run: async (action) => {
        actions.push(action);
        clock.advance(120);
        world.afterAction?.(action);
        if (action.kind === world.failing) throw new AgentError('MYSQL_QUERY_FAILED', `${action.kind} refused by the fake server`);
        return undefined;
      },
    },
    peers: peerSet,
    observePeers: async (timeoutOf) => {
      peerAsks.push(Object.fromEntries(topology.peers.filter((p) => p.name !== topology.self.name).map((p) => [p.name, timeoutOf(p.name)])));
      return world.peers;
    },
    readPrimaryGtids: async (primary) => {
      reads.push(`${primary.name}'s GTIDs`);
      return world.primaryGtids ?? { state: 'unknown', reason: 'not answering in this test' };
    },
    askFailsafe: async () => {
      clock.advance(10);
      return world.failsafe ?? world.peers.map(({ name }) => ({ name, answer: { ok: true as const, reason: `${name} follows` } }));
    },
    metrics: { record: () => undefined, actionFailed: () => void failures.push('failed'), reinitDone: () => undefined },
    rolePublisher: {
      publishRole: async () => undefined,
      recordEvent: async (event) => {
        if (event) events.push(event);
      },
    },
    log: logger,
    board,
    controls,
    clock,
  });
  return { loop, board, controls, clock, actions, keeps, peerAsks, failures, lines, extensions, peerSet, reads, events };
}

const servingPrimary = up({ variables: variables({ readOnly: false, semiSyncSource: true, serverUuid: UUID0 }) });
const asHolder = (heldUntil = NOW + 3000): LeaseObservation => ({ lease: heldBy(PRIMARY.name, PRIMARY.name), heldUntil, leaseChanges: [] });
const asFollower: LeaseObservation = { lease: heldBy(PRIMARY.name, REPLICA.name), heldUntil: null, leaseChanges: [] };

test('agent loop: a tick publishes its observation, decision and heartbeat as one frozen snapshot', async () => {
  const { loop, board, clock } = loopOf(asReplica, { mysql: up({ replica: streaming() }), lease: asFollower, peers: [], failing: null });
  await loop.tick();
  const published = board.current;
  assert.ok(Object.isFrozen(published));
  assert.equal(published.observation?.at, NOW);
  assert.equal(published.decision?.state, 'replica-streaming');
  assert.match(published.decision?.reason ?? '', /following mysql-ha-0/);
  assert.equal(published.heartbeatAt, clock.now());
  assert.throws(() => Object.assign(published, { decision: null }), TypeError, 'nothing outside the loop changes a published snapshot');
});

test('agent loop: a failed action is published with its reason and counted, and the next tick decides again', async () => {
  const world: World = { mysql: up({ variables: variables({ readOnly: false }), replica: streaming() }), lease: asFollower, peers: [], failing: 'fence' };
  const { loop, board, actions, failures, lines, events } = loopOf(asReplica, world);
  assert.equal(await loop.tick(), false);
  assert.equal(await loop.tick(), false);
  assert.equal(board.current.decision?.state, 'fencing');
  assert.match(board.current.actionError ?? '', /^fence failed: fence refused by the fake server; what to do: .+ \(MHA_MYSQL_QUERY_FAILED\)$/);
  assert.deepEqual(failures, ['failed', 'failed'], 'each failure counted');
  assert.ok(lines.some((line) => line.msg.startsWith('action failed')));
  world.failing = null;
  assert.equal(await loop.tick(), true, 'acted');
  assert.equal(board.current.actionError, null, 'cleared by the next success');
  assert.deepEqual(
    actions.map((action) => action.kind),
    ['fence', 'fence', 'fence'],
  );
  // On the pod: the failure once (not once per tick that retried it), then the success.
  assert.deepEqual(
    events.map(({ reason, type }) => `${type} ${reason}`),
    ['Warning FencingFailed', 'Warning Fenced'],
  );
  assert.match(
    events[0]!.message,
    /^writable but mysql-ha-0 holds the lease: turning read-only on and ending client sessions: fence refused by the fake server/,
  );
});

test('agent loop: an unreachable mysqld is data; the holder keeps its lease for the grace period, then lets it go', async () => {
  const world: World = { mysql: { up: false, error: 'connect ECONNREFUSED' }, lease: asHolder(), peers: [], failing: null };
  const { loop, board, clock, keeps, controls } = loopOf(asPrimary, world);
  await loop.tick();
  assert.equal(board.current.decision?.state, 'mysqld-down');
  clock.advance(GRACE_MS - 1);
  await loop.tick();
  clock.advance(1);
  await loop.tick();
  assert.deepEqual(keeps, [true, true, false], 'renews during the grace only');
  assert.equal(board.current.decision?.state, 'primary-releasing');
  controls.setPaused(true);
  await loop.tick();
  assert.equal(keeps.at(-1), true, 'paused: the holder keeps its lease whatever its mysqld does');
  assert.equal(board.current.decision?.state, 'mysqld-down');
});

test('agent loop: with no grace (MYSQL_HA_MYSQLD_DOWN_GRACE_MS=0) the holder renews while mysqld answers, and lets go at once when it does not', async () => {
  const world: World = { mysql: up({ variables: variables({ readOnly: false }) }), lease: asHolder(), peers: [], failing: null };
  const { loop, board, keeps } = loopOf(asPrimary, world, 0);
  await loop.tick();
  await loop.tick();
  world.mysql = { up: false, error: 'connect ECONNREFUSED' };
  await loop.tick();
  assert.deepEqual(keeps, [true, true, false]);
  assert.equal(board.current.decision?.state, 'primary-releasing');
});

test('agent loop: a holder whose mysqld stops answering, not yet known gone, looks again within 50 ms instead of its interval', {
  timeout: 10_000,
}, async () => {
  const world: World = { mysql: { up: false, error: 'read ECONNRESET' }, lease: asHolder(), peers: [], failing: null };
  const { loop, keeps } = loopOf(asPrimary, world);
  loop.start();
  while (keeps.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  loop.stop();
  assert.deepEqual(keeps.slice(0, 3), [true, true, true], 'three looks well before the 60 s interval, the lease kept within its grace');
});

test('agent loop: after an action it looks again three times within a few hundred ms (its effect settling), not at its interval', {
  timeout: 10_000,
}, async () => {
  const world: World = {
    mysql: up({ variables: variables({ readOnly: true }) }),
    lease: asHolder(),
    peers: [],
    failing: null,
    afterAction: () => {
      world.mysql = servingPrimary;
    },
  };
  const { loop, keeps, actions } = loopOf(asPrimary, world);
  loop.start();
  while (keeps.length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
  loop.stop();
  assert.deepEqual(
    actions.map((action) => action.kind),
    ['setup-primary'],
    'one action, then three looks well before the 60 s interval',
  );
});

test('agent loop: peers are asked only when a decision needs them (an election or a switchover)', async () => {
  const world: World = { mysql: servingPrimary, lease: asHolder(), peers: [peer(REPLICA.name), peer(OTHER.name)], failing: null };
  const { loop, peerAsks, controls } = loopOf(asPrimary, world);
  await loop.tick();
  assert.deepEqual(peerAsks, []);
  const answered = controls.requestSwitchover(null);
  await loop.tick();
  assert.deepEqual(peerAsks, [{ [REPLICA.name]: 1000, [OTHER.name]: 1000 }]);
  await answered;
  world.lease = {
    lease: { state: 'free', record: null, lastHolder: PRIMARY.name, bootstrapped: true, freeSince: NOW - 1000 },
    heldUntil: null,
    leaseChanges: [],
  };
  await loop.tick();
  assert.deepEqual(peerAsks.at(-1), { [REPLICA.name]: 500, [OTHER.name]: 500 }, 'an election asks with a shorter timeout');
});

test("agent loop: an election gives the lease's former holder only a moment to answer (a lost pod's address drops packets)", async () => {
  const world: World = {
    mysql: up({ replica: streaming() }),
    lease: { lease: free(PRIMARY.name), heldUntil: null, leaseChanges: [] },
    peers: [],
    failing: null,
  };
  const { loop, peerAsks } = loopOf(asReplica, world);
  await loop.tick();
  assert.deepEqual(peerAsks, [{ [PRIMARY.name]: 100, [OTHER.name]: 500 }]);
});

test('agent loop: a replica looks again the moment the lease it follows would expire, not at its next interval', { timeout: 10_000 }, async () => {
  const world: World = {
    mysql: up({ replica: streaming() }),
    lease: { lease: heldBy(PRIMARY.name, REPLICA.name, NOW + 30), heldUntil: null, leaseChanges: [] },
    peers: [],
    failing: null,
  };
  const { loop, keeps } = loopOf(asReplica, world);
  loop.start();
  while (keeps.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  loop.stop();
  assert.equal(keeps.length, 2, 'a second look within milliseconds, where the interval is 60 s');
});

test('agent loop: a switchover request is decided, carried out by the actuator and answered with its outcome', async () => {
  const world: World = {
    mysql: servingPrimary,
    lease: asHolder(),
    peers: [peer(REPLICA.name), peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11` })],
    failing: null,
  };
  const { loop, board, controls, actions, events } = loopOf(asPrimary, world);
  const answered = controls.requestSwitchover(null);
  await loop.tick();
  assert.equal(board.current.decision?.state, 'primary-handing-over');
  assert.deepEqual(events, [{ reason: 'HandedOver', message: board.current.decision?.reason, type: 'Normal' }]);
  assert.deepEqual(actions, [{ kind: 'hand-over', candidate: OTHER, timeoutMs: 30_000 }]);
  assert.deepEqual(await answered, { ok: true, from: PRIMARY.name, to: OTHER.name, handoverMs: 120 });
  assert.equal(board.current.lastSwitchover?.ok, true);
  assert.equal(controls.read().switchover, null);
});

test('agent loop: a refused switchover is answered at once, and the node still does what it decided', async () => {
  const world: World = { mysql: up({ variables: variables({ readOnly: false }), replica: streaming() }), lease: asFollower, peers: [], failing: null };
  const { loop, board, controls, actions } = loopOf(asReplica, world);
  const answered = controls.requestSwitchover(null);
  await loop.tick();
  const outcome = await answered;
  assert.equal(outcome.ok, false);
  assert.match(outcome.ok ? '' : outcome.reason, /mysql-ha-1 is not the serving primary .*send the switchover to mysql-ha-0/);
  assert.deepEqual(
    actions.map((action) => action.kind),
    ['fence'],
  );
  assert.equal(board.current.lastSwitchover?.ok, false);
});

test('agent loop: a hand-over that fails answers the request with the failure', async () => {
  const world: World = { mysql: servingPrimary, lease: asHolder(), peers: [peer(REPLICA.name)], failing: 'hand-over' };
  const { loop, controls } = loopOf(asPrimary, world);
  const answered = controls.requestSwitchover(REPLICA.name);
  await loop.tick();
  const outcome = await answered;
  assert.equal(outcome.ok, false);
  assert.match(outcome.ok ? '' : outcome.reason, /^switchover to mysql-ha-1 failed: hand-over refused by the fake server; what to do: /);
});

test('agent loop: a request wakes the loop, which ticks at once instead of after its interval', { timeout: 10_000 }, async () => {
  const world: World = { mysql: up({ replica: streaming() }), lease: asFollower, peers: [], failing: null };
  const { loop, board, controls } = loopOf(asReplica, world);
  loop.start();
  while (board.current.observation === null) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(board.current.observation.controls.paused, false);
  controls.setPaused(true);
  while (!board.current.observation?.controls.paused) await new Promise((resolve) => setImmediate(resolve));
  loop.stop();
  assert.equal(board.current.observation.controls.paused, true, 'the next tick read the request well before its 60 s interval');
});

const storeDown = (heldUntil: number): LeaseObservation => ({ lease: { state: 'unknown', error: 'etcd: connection refused' }, heldUntil, leaseChanges: [] });

test('agent loop: store unreachable, every peer confirms the failsafe: the lease is extended from when they were asked; the primary serves on', async () => {
  const world: World = { mysql: servingPrimary, lease: storeDown(NOW + 1000), peers: [peer(REPLICA.name), peer(OTHER.name)], failing: null };
  const { loop, board, extensions } = loopOf(asPrimary, world);
  await loop.tick();
  assert.deepEqual(extensions, [NOW]);
  const observation = board.current.observation!;
  assert.deepEqual(observation.failsafe, { state: 'confirmed', peers: [REPLICA.name, OTHER.name] });
  assert.equal(observation.heldUntil, NOW + 2500);
  assert.equal(board.current.decision?.state, 'primary-serving');
  assert.match(board.current.decision?.reason ?? '', /every peer \(mysql-ha-1, mysql-ha-2\) confirmed .*staying writable \(failsafe\)/);
});

test('agent loop: one peer refuses the failsafe: no extension, and the primary fences once its lease runs out', async () => {
  const world: World = {
    mysql: servingPrimary,
    lease: storeDown(NOW + 1000),
    peers: [peer(REPLICA.name), peer(OTHER.name)],
    failsafe: [
      { name: REPLICA.name, answer: { ok: true, reason: 'follows' } },
      { name: OTHER.name, answer: { ok: false, reason: 'agent unreachable (ECONNREFUSED)' } },
    ],
    failing: null,
  };
  const { loop, board, clock, extensions, actions } = loopOf(asPrimary, world);
  await loop.tick();
  assert.deepEqual(extensions, []);
  assert.match(board.current.decision?.reason ?? '', /still primary until the lease runs out \(no failsafe: mysql-ha-2: agent unreachable \(ECONNREFUSED\)\)/);
  clock.advance(1000);
  await loop.tick();
  assert.equal(board.current.decision?.state, 'fencing');
  assert.equal(board.current.observation?.failsafe.state, 'not-needed', 'a lease that ran out is not extended');
  assert.deepEqual(
    actions.map((action) => action.kind),
    ['fence'],
  );
});

test('agent loop: the peer list it is given now (the StatefulSet was scaled) is the topology every decision and /status use', async () => {
  const world: World = { mysql: up({ replica: streaming() }), lease: asFollower, peers: [], failing: null };
  const { loop, board, peerSet } = loopOf(asReplica, world);
  await loop.tick();
  assert.deepEqual(
    board.current.topology.peers.map((peer) => peer.name),
    [PRIMARY.name, REPLICA.name, OTHER.name],
  );
  peerSet.current = [PRIMARY, REPLICA];
  await loop.tick();
  assert.deepEqual(
    board.current.topology.peers.map((peer) => peer.name),
    [PRIMARY.name, REPLICA.name],
  );
});

test("agent loop: a streaming replica reads its primary's GTIDs after its own on every tick; a transaction only it has makes it errant", async () => {
  const world: World = {
    mysql: up({ replica: streaming() }),
    lease: asFollower,
    peers: [],
    failing: null,
    primaryGtids: { state: 'known', gtidExecuted: `${UUID0}:1-10`, serverUuid: UUID0 },
  };
  const { loop, board, reads } = loopOf(asReplica, world);
  await loop.tick();
  assert.deepEqual(reads, ['own mysqld', "mysql-ha-0's GTIDs"], 'the primary is read after this node: what it sent is in its set');
  assert.equal(board.current.decision?.state, 'replica-streaming');
  world.mysql = up({ replica: streaming(), variables: variables({ gtidExecuted: `${UUID0}:1-10,${FOREIGN}:1` }) });
  await loop.tick();
  assert.equal(board.current.decision?.state, 'replica-errant');
  assert.match(board.current.decision?.reason ?? '', new RegExp(`errant GTIDs ${FOREIGN}:1`));
  assert.equal(reads.length, 4, 'read again on the next tick');
});
