import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DecideContext, decide, needsPrimaryPosition } from '../../agent/loop/decide.ts';
import { DEFAULT_TAGS, type Decision, type LeaseView, type Observation, type PeerStatus, type Topology } from '../../agent/loop/state.ts';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';
import {
  asPrimary,
  asReplica,
  FOREIGN,
  free,
  heldBy,
  NOW,
  OTHER,
  observed,
  observedAsPrimary,
  PRIMARY,
  peer,
  primaryReady,
  REPLICA,
  record,
  streaming,
  UUID0,
  UUID1,
  up,
  variables,
} from '../support/observations.ts';

const PURGED_1236 =
  "Got fatal error 1236 from master when reading data from binary log: 'Could not find GTID state requested by slave in any binlog files. " +
  "Probably the slave state is too old and required binlog files have been purged.'";
const mysql = dialectForFlavor('mysql');
const context = (topology: Topology, overrides: Partial<DecideContext> = {}): DecideContext => ({
  topology,
  subtractGtids: mysql.subtractGtids,
  countGtids: mysql.countGtids,
  originatesFrom: mysql.originatesFrom,
  mysqldDownGraceMs: 1500,
  mysqldGoneGraceMs: 0,
  peerViewsWaitMs: 3000,
  failoverWindowMs: 60_000,
  lossless: true,
  canClone: true,
  maxSemiSyncAcks: mysql.maxSemiSyncAcks,
  copyUnavailable: null,
  handOverTimeoutMs: 30_000,
  terminationTimeoutMs: 40_000,
  ...overrides,
});

interface Row {
  name: string;
  topology: Topology;
  observation: Observation;
  state: Decision['state'];
  action: Decision['action']['kind'];
  reason: RegExp;
  context?: Partial<DecideContext>;
  /** A switchover request in the observation is refused, for this reason. */
  refused?: RegExp;
  /** A reinit request in the observation is refused, for this reason. */
  reinitRefused?: RegExp;
  /** A manual failover request in the observation is refused, for this reason. */
  failoverRefused?: RegExp;
  /** A restart request in the observation is refused, for this reason. */
  restartRefused?: RegExp;
}

const writable = (overrides = {}) => up({ variables: variables({ readOnly: false, semiSyncSource: true, ...overrides }) });
// Two replicas after the primary died: mysql-ha-1 received up to 12, mysql-ha-2 up to 15.
const behind = up({
  replica: streaming({ ioRunning: false, ioState: 'Connecting', retrievedGtids: `${UUID0}:1-12` }),
  variables: variables({ gtidExecuted: `${UUID0}:1-12` }),
});
const ahead = peer(OTHER.name, { gtidExecuted: `${UUID0}:1-14`, retrievedGtids: `${UUID0}:1-15` });
const atTwelve = { gtidExecuted: `${UUID0}:1-12`, retrievedGtids: `${UUID0}:1-12` };
const nofailover = { ...DEFAULT_TAGS, nofailover: true };
const asOther: Topology = { ...asReplica, self: OTHER };
// Five pods: commits wait for two acknowledgements (MySQL), so any three of the four replicas hold every acknowledged write.
const FOURTH = { name: 'mysql-ha-3', host: '127.0.10.4' };
const FIFTH = { name: 'mysql-ha-4', host: '127.0.10.5' };
const fivePods = (topology: Topology): Topology => ({ ...topology, peers: [...topology.peers, FOURTH, FIFTH] });
const down = (name: string) => peer(name, { unreachable: 'agent unreachable (ECONNREFUSED)', mysqldUp: false });
const deadPrimary = peer(PRIMARY.name, { unreachable: 'agent unreachable (ECONNREFUSED)', mysqldUp: false });
const paused = { paused: true, switchover: null, reinit: null, restart: null, failover: null, terminatingSince: null, failsafePromise: null };
const terminating = { paused: false, switchover: null, reinit: null, restart: null, failover: null, terminatingSince: NOW - 1000, failsafePromise: null };
const notPaused = { paused: false, switchover: null, reinit: null, restart: null, failover: null, terminatingSince: null, failsafePromise: null };
/** `holder` first seen holding the lease `ago` ms before NOW, after a failover or not. */
const change = (holder: string, ago: number, failover: boolean) => ({ holder, at: NOW - ago, how: failover ? ('failover' as const) : ('hand-over' as const) });
const switchoverTo = (candidate: string | null) => ({
  paused: false,
  switchover: { candidate },
  reinit: null,
  restart: null,
  failover: null,
  terminatingSince: null,
  failsafePromise: null,
});
// The serving primary asked for a switchover; mysql-ha-2 has one transaction more than mysql-ha-1.
const servingPrimary = writable({ serverUuid: UUID0, gtidExecuted: `${UUID0}:1-10` });
const replicasOfPrimary = [peer(REPLICA.name, { gtidExecuted: `${UUID0}:1-9`, retrievedGtids: `${UUID0}:1-9` }), peer(OTHER.name)];
const failoverAsked = (force: boolean, peers: PeerStatus[]) =>
  observed(behind, { lease: free(PRIMARY.name), peers, controls: { ...paused, failover: { force } } });
const reinitAsked = (donor: string | null, peers: PeerStatus[], own = variables()) =>
  observed(up({ replica: streaming(), variables: own }), { peers, controls: { ...notPaused, reinit: { donor } } });
const askedToSwitchOver = (candidate: string | null, peers = replicasOfPrimary) =>
  observedAsPrimary(servingPrimary, { peers, controls: switchoverTo(candidate) });

// Each row: a named cluster state as plain data, and the one decision it must give.
const table: Row[] = [
  // Bootstrap and the local server
  {
    name: 'mysqld down',
    topology: asReplica,
    observation: observed({ up: false, error: 'connect ECONNREFUSED 127.0.10.2:3306' }),
    state: 'mysqld-down',
    action: 'none',
    reason: /ECONNREFUSED/,
  },
  {
    name: 'new cluster: the bootstrap primary takes the first lease',
    topology: asPrimary,
    observation: observed(up(), { lease: free(null, false) }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /new cluster: mysql-ha-0, the bootstrap primary, takes the first lease/,
  },
  {
    name: 'new cluster: others wait for the bootstrap primary',
    topology: asReplica,
    observation: observed(up(), { lease: free(null, false), peers: [peer(PRIMARY.name), peer(OTHER.name)] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /waiting for the bootstrap primary mysql-ha-0/,
  },
  {
    name: 'full restart of a bootstrapped cluster: a stale pod 0 does not win by its ordinal',
    topology: asPrimary,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-5` }) }), {
      lease: free(null, true),
      peers: [peer(REPLICA.name), peer(OTHER.name)],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-1 is the most advanced candidate \(10 transactions\)/,
  },
  // The primary
  {
    name: 'primary still read-only at boot',
    topology: asPrimary,
    observation: observedAsPrimary(up()),
    state: 'primary-read-only',
    action: 'setup-primary',
    reason: /lifting read-only, turning semi-sync on/,
  },
  {
    name: 'primary writable without semi-sync in lossless mode',
    topology: asPrimary,
    observation: observedAsPrimary(writable({ semiSyncSource: false })),
    state: 'primary-read-only',
    action: 'setup-primary',
    reason: /turning semi-sync on/,
  },
  {
    name: 'primary writable',
    topology: asPrimary,
    observation: observedAsPrimary(writable()),
    state: 'primary-serving',
    action: 'none',
    reason: /writable \(lease term 1\)/,
  },
  {
    name: "primary writable, the Secret's passwords changed: sets them on the accounts",
    topology: asPrimary,
    observation: { ...observedAsPrimary(writable()), passwordsChanged: { accounts: true, replication: true } },
    state: 'primary-serving',
    action: 'rotate-passwords',
    reason: /writable \(lease term 1\); setting the Secret's replication and application passwords .*binlogged, so every replica gets them/,
  },
  {
    name: 'primary whose mysqld is gone (connection refused): releases the lease at once, without the grace period',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'connect ECONNREFUSED 127.0.10.1:3306', gone: true }, { mysqldDownSince: NOW }),
    state: 'primary-releasing',
    action: 'release-lease',
    reason: /^mysqld is gone \(connect ECONNREFUSED 127\.0\.10\.1:3306\): releasing the lease so a replica takes over$/,
  },
  {
    name: 'primary whose mysqld is gone, with a grace for gone servers (MYSQL_HA_MYSQLD_GONE_GRACE_MS): keeps the lease within it',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'connect ECONNREFUSED', gone: true }, { mysqldDownSince: NOW - 59_000 }),
    context: { mysqldGoneGraceMs: 60_000 },
    state: 'mysqld-down',
    action: 'none',
    reason: /waiting for the local mysqld/,
  },
  {
    name: 'primary whose mysqld is gone past its grace for gone servers: releases the lease',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'connect ECONNREFUSED', gone: true }, { mysqldDownSince: NOW - 60_000 }),
    context: { mysqldGoneGraceMs: 60_000 },
    state: 'primary-releasing',
    action: 'release-lease',
    reason: /^mysqld is gone \(connect ECONNREFUSED\) for 60\.0 s \(grace 60\.0 s\): releasing the lease/,
  },
  {
    name: 'paused: the primary keeps its lease even when its mysqld is gone',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'connect ECONNREFUSED', gone: true }, { mysqldDownSince: NOW - 60_000, controls: paused }),
    state: 'mysqld-down',
    action: 'none',
    reason: /waiting/,
  },
  {
    name: 'primary whose mysqld is there but does not answer, within the grace period: keeps the lease',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'Too many connections' }, { mysqldDownSince: NOW - 1000 }),
    state: 'mysqld-down',
    action: 'none',
    reason: /waiting for the local mysqld/,
  },
  {
    name: 'primary whose mysqld is down past the grace period releases the lease',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'ECONNREFUSED' }, { mysqldDownSince: NOW - 1600 }),
    state: 'primary-releasing',
    action: 'release-lease',
    reason: /^mysqld has not answered \(ECONNREFUSED\) for 1\.6 s \(grace 1\.5 s\): releasing the lease/,
  },
  {
    name: 'paused: the primary keeps its lease whatever its mysqld does',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'ECONNREFUSED' }, { mysqldDownSince: NOW - 60_000, controls: paused }),
    state: 'mysqld-down',
    action: 'none',
    reason: /waiting/,
  },
  // Fencing timing
  {
    name: 'store unreachable, lease still valid: keep serving',
    topology: asPrimary,
    observation: observedAsPrimary(writable(), { lease: { state: 'unknown', error: 'etcd timeout' }, heldUntil: NOW + 1 }),
    state: 'primary-serving',
    action: 'none',
    reason: /lease store unreachable \(etcd timeout\); still primary/,
  },
  {
    name: 'store unreachable, lease deadline reached: fence before it can expire',
    topology: asPrimary,
    observation: observedAsPrimary(writable(), { lease: { state: 'unknown', error: 'etcd timeout' }, heldUntil: NOW }),
    state: 'fencing',
    action: 'fence',
    reason: /cannot renew the lease \(etcd timeout\)/,
  },
  {
    name: 'store unreachable, lease deadline reached, mysqld answered writable then hung: fence it all the same',
    topology: asPrimary,
    observation: observedAsPrimary(
      { up: false, error: 'SHOW BINLOG STATUS timed out', answeredWritable: true },
      { lease: { state: 'unknown', error: 'etcd timeout' }, heldUntil: NOW, mysqldDownSince: NOW - 3000 },
    ),
    state: 'fencing',
    action: 'fence',
    reason: /cannot renew the lease \(etcd timeout\).*\(its mysqld stopped answering: SHOW BINLOG STATUS timed out\): turning read-only on/,
  },
  {
    name: 'store unreachable, lease still valid, mysqld hung: no fencing yet, the grace period runs',
    topology: asPrimary,
    observation: observedAsPrimary(
      { up: false, error: 'SHOW BINLOG STATUS timed out', answeredWritable: true },
      { lease: { state: 'unknown', error: 'etcd timeout' }, heldUntil: NOW + 1, mysqldDownSince: NOW - 500 },
    ),
    state: 'mysqld-down',
    action: 'none',
    reason: /waiting for the local mysqld: SHOW BINLOG STATUS timed out/,
  },
  {
    name: 'old primary sees another holder: steps down',
    topology: asPrimary,
    observation: observed(writable(), { lease: heldBy(REPLICA.name, PRIMARY.name) }),
    state: 'fencing',
    action: 'fence',
    reason: /mysql-ha-1 holds the lease: turning read-only on and ending client sessions/,
  },
  {
    name: 'old primary with a free lease: steps down',
    topology: asPrimary,
    observation: observed(writable(), { lease: free(PRIMARY.name), peers: [peer(REPLICA.name), peer(OTHER.name)] }),
    state: 'fencing',
    action: 'fence',
    reason: /does not hold the lease/,
  },
  // Election
  {
    name: 'primary gone: the most advanced candidate takes the lease',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11` })],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate \(12 transactions\): taking it/,
  },
  {
    name: 'lease just released: a peer looked at mysqld before it saw the lease free: wait, and ask the peers to look again',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name, true, NOW - 100),
      peers: [deadPrimary, peer(OTHER.name, { viewedSinceLeaseFree: false })],
    }),
    state: 'waiting-for-peer-views',
    action: 'nudge-peers',
    reason: /^the lease was released: waiting for views of mysqld taken since \(mysql-ha-2 looked before, and may lack the last transactions received\)/,
  },
  {
    name: 'lease just released, seen free first in this very observation (mysqld was looked at before): wait for a second look',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name, true, NOW + 5), peers: [deadPrimary, peer(OTHER.name)] }),
    state: 'waiting-for-peer-views',
    action: 'nudge-peers',
    reason: /\(mysql-ha-1 looked before/,
  },
  {
    name: 'lease released longer ago than the wait for fresh views: the election goes on with the views it has',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name, true, NOW - 3000),
      peers: [deadPrimary, peer(OTHER.name, { viewedSinceLeaseFree: false })],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'lease expired (not released), a peer viewed before it saw it free: no wait, its holder stopped a TTL ago',
    topology: asReplica,
    observation: observed(behind, {
      lease: { ...free(PRIMARY.name, true, NOW - 100), record: record(PRIMARY.name, { version: '42' }) } as LeaseView,
      peers: [deadPrimary, peer(OTHER.name, { viewedSinceLeaseFree: false })],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'primary gone: a less advanced candidate waits',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, ahead] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2 is the most advanced candidate \(15 transactions\)/,
  },
  {
    name: 'received but not applied counts: a replica whose SQL thread is stopped still ranks by what it received',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-3`, retrievedGtids: `${UUID0}:1-13` })],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2 is the most advanced candidate \(13 transactions\)/,
  },
  {
    name: 'an errant candidate is never elected',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, { ...ahead, errant: true }] }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'this node errant: it does not stand',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-2`, retrievedGtids: '' })],
      selfErrant: true,
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2 is the most advanced candidate/,
  },
  {
    name: 'ties go to the lowest ordinal',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-12`, retrievedGtids: '' })] }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced/,
  },
  {
    name: 'another replica unreachable: no election (it may hold the only copy of an acknowledged write)',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, { ...ahead, unreachable: 'agent unreachable (timeout)', mysqldUp: false }],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /no election without every replica's transactions: mysql-ha-2 agent unreachable/,
  },
  {
    name: 'a former primary cut off from the store is not waited for, however advanced (what no replica has was never acknowledged)',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [
        peer(PRIMARY.name, { gtidExecuted: `${UUID0}:1-20`, storeUnreachable: 'etcd timeout' }),
        peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: '' }),
      ],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate \(12 transactions\)/,
  },
  {
    name: 'a replica cut off from the store with more transactions stops the election (it may hold the only copy of an acknowledged write)',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, { ...ahead, storeUnreachable: 'etcd timeout' }] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2, which has more transactions than any candidate, cannot reach the lease store \(etcd timeout\)/,
  },
  {
    name: 'anti-flapping: the second quick failover in a row happens at once',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      leaseChanges: [change(OTHER.name, 20_000, false), change(PRIMARY.name, 10_000, true)],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /taking it/,
  },
  {
    name: 'anti-flapping: the third quick failover in a row waits until the dead primary would have held the lease one window',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      leaseChanges: [change(OTHER.name, 30_000, false), change(REPLICA.name, 20_000, true), change(PRIMARY.name, 10_000, true)],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /quick failover number 3 in a row \(only 2 happen at once; anti-flapping window 60\.0 s\): holding it back 50\.0 s more/,
  },
  {
    name: 'anti-flapping: a planned hand-over ends the run of quick failovers',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      leaseChanges: [change(OTHER.name, 30_000, false), change(REPLICA.name, 20_000, true), change(PRIMARY.name, 10_000, false)],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /taking it/,
  },
  {
    name: 'anti-flapping: a primary that held the lease long enough ends the run',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      leaseChanges: [change(OTHER.name, 200_000, false), change(REPLICA.name, 190_000, true), change(PRIMARY.name, 180_000, true)],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /taking it/,
  },
  {
    name: 'anti-flapping: a held-back failover never stops the dead holder from taking its own lease back',
    topology: asPrimary,
    observation: observed(up(), {
      lease: free(PRIMARY.name),
      leaseChanges: [change(OTHER.name, 30_000, false), change(REPLICA.name, 20_000, true), change(PRIMARY.name, 10_000, true)],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-0 held it last: taking it back/,
  },
  {
    name: 'paused: no election',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, peer(OTHER.name)], controls: paused }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /paused \(maintenance\)/,
  },
  {
    name: 'paused: the last holder may take its own lease back',
    topology: asPrimary,
    observation: observed(up(), { lease: free(PRIMARY.name), controls: paused }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-0 held it last: taking it back/,
  },
  {
    name: 'an expired Kubernetes Lease is taken over by compare-and-set on its version',
    topology: asReplica,
    observation: observed(behind, {
      lease: { state: 'free', record: record(PRIMARY.name, { version: '42' }), lastHolder: PRIMARY.name, bootstrapped: true, freeSince: NOW - 1000 },
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /taking it/,
  },
  // Promotion
  {
    name: 'new holder still has relay log to apply',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', retrievedGtids: `${UUID0}:1-12` }) }), {
      lease: heldBy(REPLICA.name, REPLICA.name),
      heldUntil: NOW + 3000,
    }),
    state: 'primary-catching-up',
    action: 'catch-up',
    reason: /still to apply: 3e11fa47-71ca-11e1-9e33-c80aa9429562:11-12/,
  },
  {
    name: 'new holder has applied everything: promote',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No' }) }), {
      lease: heldBy(REPLICA.name, REPLICA.name),
      heldUntil: NOW + 3000,
    }),
    state: 'primary-promoting',
    action: 'promote',
    reason: /promoting/,
  },
  {
    name: 'new holder whose relay log stopped on an error gives the lease up',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ sqlRunning: false, lastSqlError: 'Duplicate entry' }) }), {
      lease: heldBy(REPLICA.name, REPLICA.name),
      heldUntil: NOW + 3000,
    }),
    state: 'primary-releasing',
    action: 'release-lease',
    reason: /relay log stopped on an error/,
  },
  // Replicas
  {
    name: 'replica someone made writable',
    topology: asReplica,
    observation: observed(writable({ semiSyncSource: false }), { lease: heldBy(PRIMARY.name, REPLICA.name) }),
    state: 'fencing',
    action: 'fence',
    reason: /mysql-ha-0 holds the lease/,
  },
  {
    name: 'old primary after a planned switchover: semi-sync source still on, turned off before it replicates',
    topology: asReplica,
    observation: observed(up({ variables: variables({ semiSyncSource: true }) }), { primaryPosition: primaryReady() }),
    state: 'replica-demoting',
    action: 'fence',
    reason: /still has the semi-sync source on/,
  },
  {
    name: 'fresh replica, primary not answering yet',
    topology: asReplica,
    observation: observed(up(), { primaryPosition: { state: 'waiting', attempts: 3, lastError: 'answered 503: primary is still read-only' } }),
    state: 'replica-waiting-for-primary',
    action: 'none',
    reason: /waiting for mysql-ha-0's \/binlog-position \(attempt 3: answered 503/,
  },
  {
    name: 'fresh replica, primary ready',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: '' }) }), { primaryPosition: primaryReady() }),
    state: 'replica-unconfigured',
    action: 'configure-replication',
    reason: /following mysql-ha-0 with GTID auto-positioning/,
  },
  {
    name: 'replica following the old primary after a failover',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ sourceHost: OTHER.host }) }), { primaryPosition: primaryReady() }),
    state: 'replica-wrong-source',
    action: 'configure-replication',
    reason: /replicating from 127\.0\.10\.3:3306, not mysql-ha-0/,
  },
  // A returning old primary (this node is UUID1) with transactions of its own the new primary never had.
  {
    name: 'lossless: its own never-acknowledged transactions are discarded with a copy of the primary',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: new RegExp(`errant GTIDs ${UUID1}:1-2\\), written while it was primary and never acknowledged.*with a copy of mysql-ha-0`),
  },
  {
    name: 'asynchronous mode: its own extra transactions may have been acknowledged, so it stays out',
    topology: asReplica,
    context: { lossless: false },
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-errant',
    action: 'none',
    reason: new RegExp(`errant GTIDs ${UUID1}:1-2\\) \\(asynchronous mode.*reinit this replica \\(mysql-ha-agent reinit POD`),
  },
  {
    name: 'automatic rebuild off: it stays out, says why, and that a reinit fixes it',
    topology: asReplica,
    context: { canClone: false },
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-errant',
    action: 'none',
    reason: /automatic rebuild is off or this server cannot clone\); reinit this replica/,
  },
  {
    name: 'no copy possible (MariaDB without mariadb-backup): it stays out and says how to rebuild it by hand',
    topology: asReplica,
    context: { canClone: false, copyUnavailable: 'mariadb-backup and mbstream are not installed beside this agent' },
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-errant',
    action: 'none',
    reason: /cannot clone\); rebuild this replica from the primary \(delete its data volume\)/,
  },
  {
    name: 'errant transactions from another server (written by hand, say) are never discarded',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2,${FOREIGN}:1` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-errant',
    action: 'none',
    reason: new RegExp(`errant GTIDs ${UUID1}:1-2,${FOREIGN}:1\\); reinit this replica`),
  },
  // Streaming replicas compare their GTIDs with the primary's on every observation (read after their own).
  {
    name: 'streaming, with nothing the primary lacks',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { primaryGtids: { state: 'known', gtidExecuted: `${UUID0}:1-10`, serverUuid: UUID0 } }),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0: IO and SQL threads running/,
  },
  {
    name: "streaming, ahead of the primary's set only with the primary's own transactions (on their way: not errant)",
    topology: asReplica,
    observation: observed(up({ replica: streaming(), variables: variables({ gtidExecuted: `${UUID0}:1-12` }) }), {
      primaryGtids: { state: 'known', gtidExecuted: `${UUID0}:1-10`, serverUuid: UUID0 },
    }),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
  },
  {
    name: 'streaming, with a transaction written on this replica past read-only: errant, and it says what to do',
    topology: asReplica,
    observation: observed(up({ replica: streaming(), variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1` }) }), {
      primaryGtids: { state: 'known', gtidExecuted: `${UUID0}:1-10`, serverUuid: UUID0 },
    }),
    state: 'replica-errant',
    action: 'none',
    reason: new RegExp(`following mysql-ha-0, but this node has transactions the primary never had \\(errant GTIDs ${UUID1}:1\\).*reinit this replica`),
  },
  {
    name: 'streaming, with a transaction from a server of no pod: errant',
    topology: asReplica,
    observation: observed(up({ replica: streaming(), variables: variables({ gtidExecuted: `${UUID0}:1-10,${FOREIGN}:3` }) }), {
      primaryGtids: { state: 'known', gtidExecuted: `${UUID0}:1-10`, serverUuid: UUID0 },
    }),
    state: 'replica-errant',
    action: 'none',
    reason: new RegExp(`errant GTIDs ${FOREIGN}:3`),
  },
  {
    name: "streaming, the primary's GTIDs unknown (its agent did not answer): judged on the next observation",
    topology: asReplica,
    observation: observed(up({ replica: streaming(), variables: variables({ gtidExecuted: `${UUID0}:1-10,${FOREIGN}:3` }) }), {
      primaryGtids: { state: 'unknown', reason: 'agent unreachable (timeout)' },
    }),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
  },
  {
    name: 'a replica that already holds newer transactions of the primary itself (through another replica) is not errant',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-14` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-unconfigured',
    action: 'configure-replication',
    reason: /following mysql-ha-0/,
  },
  {
    name: 'the primary purged binary logs this node still needs: it copies the primary (it has nothing the primary lacks)',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: '' }) }), { primaryPosition: primaryReady(`${UUID0}:1-10`, `${UUID0}:1-6`) }),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: new RegExp(`no longer has binary logs holding transactions this node lacks \\(${UUID0}:1-6\\): copying mysql-ha-0`),
  },
  {
    name: 'the primary purged binary logs this node still needs, cloning off: it says what to do',
    topology: asReplica,
    context: { canClone: false },
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-3` }) }), { primaryPosition: primaryReady(`${UUID0}:1-10`, `${UUID0}:1-6`) }),
    state: 'replica-beyond-binlogs',
    action: 'none',
    reason: new RegExp(
      `lacks \\(${UUID0}:4-6\\); automatic rebuild is off: reinit it \\(mysql-ha-agent reinit POD: a copy of another pod\\) or restore a recent backup`,
    ),
  },
  {
    // MariaDB keeps no purged set to compare with first: its IO thread stops on error 1236.
    name: 'the IO thread stopped because the primary purged what this node needs (MariaDB): it copies the primary',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', sourcePurgedBinlogs: true, lastIoError: PURGED_1236 }) })),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: /no longer has binary logs holding transactions this node lacks \(Got fatal error 1236.*\): copying mysql-ha-0/,
  },
  {
    name: 'the same with automatic rebuild off: it stays out and names reinit, not a restart of the IO thread',
    topology: asReplica,
    context: { canClone: false },
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', sourcePurgedBinlogs: true, lastIoError: PURGED_1236 }) })),
    state: 'replica-beyond-binlogs',
    action: 'none',
    reason: /automatic rebuild is off: reinit it \(mysql-ha-agent reinit POD/,
  },
  {
    name: 'the same where no copy can be made: it says to rebuild by hand, and why',
    topology: asReplica,
    context: { canClone: false, copyUnavailable: 'mariadb-backup and mbstream are not installed beside this agent' },
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', sourcePurgedBinlogs: true, lastIoError: PURGED_1236 }) })),
    state: 'replica-beyond-binlogs',
    action: 'none',
    reason: /rebuild it by hand from a recent backup \(it cannot copy another pod: mariadb-backup and mbstream are not installed/,
  },
  {
    name: 'purged binary logs this node already applied do not matter',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-8` }) }), { primaryPosition: primaryReady(`${UUID0}:1-10`, `${UUID0}:1-6`) }),
    state: 'replica-unconfigured',
    action: 'configure-replication',
    reason: /following mysql-ha-0/,
  },
  {
    name: 'returning old primary that is a subset rejoins',
    topology: asReplica,
    observation: observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-5` }) }), { primaryPosition: primaryReady() }),
    state: 'replica-unconfigured',
    action: 'configure-replication',
    reason: /following/,
  },
  {
    name: 'SQL thread stopped on an error',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ sqlRunning: false, lastSqlError: "Duplicate entry '7' for key 't.PRIMARY'" }) })),
    state: 'replica-sql-error',
    action: 'none',
    reason: /never skipped\): Duplicate entry '7'.*START REPLICA/,
  },
  {
    name: 'both threads stopped after a mysqld restart',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', sqlRunning: false, lagSeconds: null }) })),
    state: 'replica-stopped',
    action: 'start-replication',
    reason: /configured but stopped/,
  },
  {
    name: 'IO thread gave up',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'No', lastIoError: 'error reconnecting' }) })),
    state: 'replica-io-stopped',
    action: 'start-io-thread',
    reason: /last error: error reconnecting/,
  },
  {
    name: 'IO thread reconnecting (primary down or bad password)',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ ioRunning: false, ioState: 'Connecting', lastIoError: "Access denied for user 'mysqlha_repl'" }) })),
    state: 'replica-connecting',
    action: 'none',
    reason: /connecting to mysql-ha-0: Access denied/,
  },
  {
    name: "IO thread refused after the Secret's replication password changed: configured again with the new one",
    topology: asReplica,
    observation: {
      ...observed(up({ replica: streaming({ ioRunning: false, ioState: 'Connecting', lastIoError: "Access denied for user 'mysqlha_repl'" }) })),
      passwordsChanged: { accounts: true, replication: true },
    },
    state: 'replica-connecting',
    action: 'configure-replication',
    reason: /not connected to mysql-ha-0, and replication was not configured by this agent with the Secret's replication password/,
  },
  {
    name: "replica streaming when the Secret's replication password changed: the stream keeps working, nothing to do",
    topology: asReplica,
    observation: { ...observed(up({ replica: streaming() })), passwordsChanged: { accounts: true, replication: true } },
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
  },
  {
    name: 'replica streaming',
    topology: asReplica,
    observation: observed(up({ replica: streaming({ lagSeconds: 2 }) })),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0: IO and SQL threads running, lag 2 s/,
  },
  {
    name: 'lease store unreachable on a replica: replication left alone',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { lease: { state: 'unknown', error: 'etcd down' } }),
    state: 'lease-unknown',
    action: 'none',
    reason: /replication left as it is/,
  },
  // Failsafe while the lease store is unreachable (agent/loop/failsafe.ts)
  {
    name: 'failsafe: store unreachable, every peer confirmed: the primary stays writable and says why',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, {
      lease: { state: 'unknown', error: 'etcd: connection refused' },
      failsafe: { state: 'confirmed', peers: [REPLICA.name, OTHER.name] },
    }),
    state: 'primary-serving',
    action: 'none',
    reason: /lease store unreachable \(etcd: connection refused\); every peer \(mysql-ha-1, mysql-ha-2\) confirmed it follows mysql-ha-0 .*\(failsafe\)/,
  },
  {
    name: 'failsafe: refused by a peer: primary until the lease runs out, and the refusal is the reason',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, {
      lease: { state: 'unknown', error: 'etcd: connection refused' },
      failsafe: { state: 'refused', why: 'mysql-ha-2: agent unreachable (ECONNREFUSED)' },
    }),
    state: 'primary-serving',
    action: 'none',
    reason: /still primary until the lease runs out \(no failsafe: mysql-ha-2: agent unreachable/,
  },
  {
    name: 'failsafe: the lease ran out without confirmation: fenced',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, {
      lease: { state: 'unknown', error: 'etcd: connection refused' },
      heldUntil: NOW - 1,
      failsafe: { state: 'not-needed' },
    }),
    state: 'fencing',
    action: 'fence',
    reason: /cannot renew the lease \(etcd: connection refused\)/,
  },
  {
    name: 'failsafe: a replica that promised the primary takes no lease, even when it sees it free',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [peer(PRIMARY.name), peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      controls: { ...notPaused, failsafePromise: { primary: PRIMARY.name, until: NOW + 4000 } },
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-1 promised mysql-ha-0 \(failsafe while the lease store was unreachable\) not to take it for 4\.0 s more/,
  },
  {
    name: 'failsafe: once the promise has run out, the election goes on',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      controls: { ...notPaused, failsafePromise: { primary: PRIMARY.name, until: NOW } },
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /taking it/,
  },
  // Pod termination (SIGTERM): hand over, or step down, or just stop
  {
    name: 'terminating serving primary: hands the lease to the most advanced replica',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: terminating }),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /pod terminating: handing the lease over to mysql-ha-2 \(the best replica\) before mysqld stops/,
  },
  {
    name: 'terminating serving primary in a rolling update: prefers the replica already on the new revision',
    topology: { ...asPrimary, revision: 'rev-1' },
    observation: observedAsPrimary(servingPrimary, {
      peers: [peer(REPLICA.name, { gtidExecuted: `${UUID0}:1-9`, retrievedGtids: `${UUID0}:1-9`, revision: 'rev-2' }), peer(OTHER.name, { revision: 'rev-1' })],
      controls: terminating,
    }),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /handing the lease over to mysql-ha-1 \(the best replica, already on the new pod revision\)/,
  },
  {
    name: 'terminating serving primary: never hands over to a replica that is terminating too',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, {
      peers: [peer(REPLICA.name, { gtidExecuted: `${UUID0}:1-9`, retrievedGtids: `${UUID0}:1-9` }), peer(OTHER.name, { terminating: true })],
      controls: terminating,
    }),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /handing the lease over to mysql-ha-1/,
  },
  {
    name: 'terminating serving primary late in its limit: steps down rather than start a hand-over it could not finish',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: { ...terminating, terminatingSince: NOW - 34_000 } }),
    state: 'primary-stepping-down',
    action: 'step-down',
    reason: /pod terminating for 34\.0 s and no hand-over done: stopping writes and releasing the lease before the agent's limit \(40\.0 s\)/,
  },
  {
    name: 'terminating serving primary with no replica able to take over: stops writes and releases the lease',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, {
      peers: [peer(REPLICA.name, { unreachable: 'agent unreachable (ECONNREFUSED)', mysqldUp: false }), peer(OTHER.name, { terminating: true })],
      controls: terminating,
    }),
    state: 'primary-stepping-down',
    action: 'step-down',
    reason:
      /no replica can take over \(mysql-ha-1: agent unreachable \(ECONNREFUSED\); mysql-ha-2: it is terminating too\): stopping writes and releasing the lease/,
  },
  {
    name: 'terminating primary still catching up: releases the lease so a replica takes over',
    topology: asPrimary,
    observation: observedAsPrimary(up({ replica: streaming({ retrievedGtids: `${UUID0}:1-12` }) }), { controls: terminating }),
    state: 'primary-stepping-down',
    action: 'step-down',
    reason: /pod terminating before mysql-ha-0 serves as primary \(.*applying its relay log.*\): releasing the lease/,
  },
  {
    name: 'terminating primary with mysqld down: releases the lease at once, without the grace period',
    topology: asPrimary,
    observation: observedAsPrimary({ up: false, error: 'connect ECONNREFUSED' }, { mysqldDownSince: NOW - 100, controls: terminating }),
    state: 'primary-releasing',
    action: 'release-lease',
    reason: /pod terminating with mysqld down \(connect ECONNREFUSED\): releasing the lease/,
  },
  {
    name: 'terminating replica: nothing to hand over, mysqld may stop',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { controls: terminating }),
    state: 'stopping',
    action: 'none',
    reason: /pod terminating: mysql-ha-1 holds no lease, nothing to hand over \(was: following mysql-ha-0/,
  },
  {
    name: 'terminating replica that should reconfigure: leaves it to its next start',
    topology: asReplica,
    observation: observed(up(), { controls: terminating, primaryPosition: primaryReady() }),
    state: 'stopping',
    action: 'none',
    reason: /nothing to hand over \(was: no replication configured/,
  },
  {
    name: 'terminating writable replica: still fenced first',
    topology: asReplica,
    observation: observed(writable(), { controls: terminating }),
    state: 'fencing',
    action: 'fence',
    reason: /mysql-ha-0 holds the lease/,
  },
  {
    name: 'terminating node in an election: takes no lease',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })],
      controls: terminating,
    }),
    state: 'stopping',
    action: 'none',
    reason: /was: the lease is free .*taking it/,
  },
  {
    name: 'election: a terminating peer is no candidate',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11`, terminating: true })],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'election: a terminating peer with more transactions is waited for (it may hold the only copy of an acknowledged write)',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, { ...ahead, terminating: true }] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2, which has more transactions than any candidate, is terminating: waiting for it/,
  },
  // Quorum: an election needs (replicas − acknowledgements + 1) of the replicas, this node included.
  {
    name: 'five pods: the primary and one replica lost, three of four replicas answer: an election',
    topology: fivePods(asReplica),
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11` }), peer(FOURTH.name, atTwelve), down(FIFTH.name)],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'five pods: the primary and two replicas lost, two of four answer: no election (a commit waited for two, both may be gone)',
    topology: fivePods(asReplica),
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, peer(OTHER.name, atTwelve), down(FOURTH.name), down(FIFTH.name)] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /no election without the transactions of 3 of the 4 replicas \(commits wait for 2\): mysql-ha-3 agent unreachable .*; mysql-ha-4 agent unreachable/,
  },
  {
    name: 'five pods on MariaDB (its semi-sync waits for one acknowledgement): every replica must answer',
    topology: fivePods(asReplica),
    context: { maxSemiSyncAcks: 1 },
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, atTwelve), peer(FOURTH.name, atTwelve), down(FIFTH.name)],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /no election without every replica's transactions: mysql-ha-4 agent unreachable/,
  },
  {
    name: 'five pods, asynchronous mode (nothing waits for an acknowledgement): every replica must answer',
    topology: fivePods(asReplica),
    context: { lossless: false },
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, atTwelve), peer(FOURTH.name, atTwelve), down(FIFTH.name)],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /no election without every replica's transactions/,
  },
  {
    name: 'five pods: a primary set up waits for two acknowledgements',
    topology: fivePods(asPrimary),
    observation: observedAsPrimary(up({ variables: variables({ serverUuid: UUID0 }) })),
    state: 'primary-read-only',
    action: 'setup-primary',
    reason: /commits wait for 2 of the replicas/,
  },
  {
    name: 'scaled from three pods to five: the serving primary makes commits wait for two acknowledgements',
    topology: fivePods(asPrimary),
    observation: observedAsPrimary(servingPrimary),
    state: 'primary-serving',
    action: 'set-semi-sync-acks',
    reason: /with 5 pods a commit must wait for 2 acknowledgements \(now 1\): changing it/,
  },
  {
    name: 'scaled from five pods to three: back to one acknowledgement (two would leave no replica to spare)',
    topology: asPrimary,
    observation: observedAsPrimary(writable({ serverUuid: UUID0, gtidExecuted: `${UUID0}:1-10`, semiSyncAcks: 2 })),
    state: 'primary-serving',
    action: 'set-semi-sync-acks',
    reason: /with 3 pods a commit must wait for 1 acknowledgement \(now 2\)/,
  },
  // Failover by hand: the free lease taken while paused (or when no election can happen).
  {
    name: 'manual failover while paused, every peer seen and none ahead: this node takes the lease',
    topology: asReplica,
    observation: failoverAsked(false, [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11` })]),
    state: 'electing',
    action: 'acquire-lease',
    reason: /^manual failover to mysql-ha-1 requested: taking the lease$/,
  },
  {
    name: 'manual failover refused: a peer has transactions this node lacks, and it says which',
    topology: asReplica,
    observation: failoverAsked(false, [deadPrimary, ahead]),
    state: 'waiting-for-election',
    action: 'none',
    reason: /paused/,
    failoverRefused: new RegExp(`mysql-ha-2 has 3 transaction\\(s\\) this node lacks \\(${UUID0}:13-14\\): they would be lost; force it`),
  },
  {
    name: 'manual failover forced past a peer ahead: taken, and the reason says what was forced',
    topology: asReplica,
    observation: failoverAsked(true, [deadPrimary, ahead]),
    state: 'electing',
    action: 'acquire-lease',
    reason: /manual failover to mysql-ha-1 requested \(forced past: mysql-ha-2 has 3 transaction\(s\) this node lacks/,
  },
  {
    name: 'manual failover refused: a peer that cannot be seen may hold acknowledged writes',
    topology: asReplica,
    observation: failoverAsked(false, [deadPrimary, down(OTHER.name)]),
    state: 'waiting-for-election',
    action: 'none',
    reason: /paused/,
    failoverRefused: /mysql-ha-2 cannot be seen \(agent unreachable .*\): it may hold acknowledged writes/,
  },
  {
    name: 'manual failover refused while a primary holds the lease: it says how the lease can move',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), {
      peers: [peer(PRIMARY.name), peer(OTHER.name)],
      controls: { ...notPaused, failover: { force: true } },
    }),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
    failoverRefused: /mysql-ha-0 holds the lease \(its agent renews it\): a live primary moves with a switchover/,
  },
  // Reinit: a replica replaces its data with a donor's copy, a replica's by default.
  {
    name: 'reinit of an errant replica: from the other replica, so the primary is not loaded',
    topology: asReplica,
    observation: reinitAsked(null, [peer(PRIMARY.name), peer(OTHER.name, atTwelve)], variables({ gtidExecuted: `${UUID0}:1-10,${FOREIGN}:1` })),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: /reinit requested: replacing this node's data with a copy of mysql-ha-2 \(a replica, so the primary is not loaded\), then following mysql-ha-0/,
  },
  {
    name: 'reinit with no replica to give a copy: from the primary',
    topology: asReplica,
    observation: reinitAsked(null, [peer(PRIMARY.name), down(OTHER.name)]),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: /a copy of mysql-ha-0 \(the primary\)/,
  },
  {
    name: 'reinit from the donor asked for',
    topology: asReplica,
    observation: reinitAsked(PRIMARY.name, [peer(PRIMARY.name), peer(OTHER.name)]),
    state: 'replica-rebuilding',
    action: 'rebuild',
    reason: /a copy of mysql-ha-0 \(the primary\)/,
  },
  {
    name: 'reinit refused: the donor asked for is down',
    topology: asReplica,
    observation: reinitAsked(OTHER.name, [peer(PRIMARY.name), down(OTHER.name)]),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
    reinitRefused: /mysql-ha-2 cannot be the donor: agent unreachable/,
  },
  {
    name: 'reinit refused on the primary: switch over first',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: { ...notPaused, reinit: { donor: null } } }),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    reinitRefused: /mysql-ha-0 is the primary: switch over first/,
  },
  {
    name: 'reinit refused where the server cannot copy another (MariaDB without mariadb-backup): it says why and how to rebuild by hand',
    topology: asReplica,
    context: { copyUnavailable: 'mariadb-backup and mbstream are not installed beside this agent' },
    observation: reinitAsked(null, [peer(PRIMARY.name), peer(OTHER.name)]),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
    reinitRefused: /cannot copy another \(mariadb-backup and mbstream are not installed beside this agent\): rebuild it by hand/,
  },
  {
    name: 'reinit refused while the pod is terminating',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { peers: [peer(PRIMARY.name)], controls: { ...terminating, reinit: { donor: null } } }),
    state: 'stopping',
    action: 'none',
    reason: /.*/,
    reinitRefused: /mysql-ha-1 is terminating/,
  },
  // Restart of mysqld, asked for: a replica with nothing else to do; never the primary.
  {
    name: 'restart asked of a streaming replica: it restarts mysqld (its reads drained first)',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { peers: [peer(PRIMARY.name)], controls: { ...notPaused, restart: {} } }),
    state: 'replica-restarting',
    action: 'restart-mysqld',
    reason: /^restart requested: stopping mysqld and having its supervisor start it again \(was: following mysql-ha-0/,
  },
  {
    name: 'restart refused on the primary: switch over first',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: { ...notPaused, restart: {} } }),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    restartRefused: /mysql-ha-0 is the primary: switch over first \(mysql-ha-agent restart mysql-ha-0 does\)/,
  },
  {
    name: 'restart refused while the replica has something to do (here: replication to set up)',
    topology: asReplica,
    observation: observed(up(), { primaryPosition: primaryReady(), controls: { ...notPaused, restart: {} } }),
    state: 'replica-unconfigured',
    action: 'configure-replication',
    reason: /following mysql-ha-0/,
    restartRefused: /mysql-ha-1 is busy: no replication configured: following mysql-ha-0.*; ask again once it is done/,
  },
  {
    name: 'restart refused when mysqld is down already',
    topology: asReplica,
    observation: observed({ up: false, error: 'connect ECONNREFUSED' }, { controls: { ...notPaused, restart: {} } }),
    state: 'mysqld-down',
    action: 'none',
    reason: /.*/,
    restartRefused: /mysqld is down already \(connect ECONNREFUSED\): its supervisor starts it again/,
  },
  {
    name: 'restart refused while the pod is terminating',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { peers: [peer(PRIMARY.name)], controls: { ...terminating, restart: {} } }),
    state: 'stopping',
    action: 'none',
    reason: /.*/,
    restartRefused: /mysql-ha-1 is terminating/,
  },
  // Tags: nofailover and failover priority 0 never take the lease; priority breaks ties.
  {
    name: 'election: a peer tagged nofailover is no candidate, though as advanced and first by ordinal',
    topology: asOther,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, peer(REPLICA.name, { ...atTwelve, tags: nofailover })] }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-2 is the most advanced candidate/,
  },
  {
    name: 'election: a peer tagged nofailover with more transactions than any candidate: no failover, and it says why',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, { ...ahead, tags: nofailover }] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2, which has more transactions than any candidate, cannot take it \(it is tagged nofailover\): no failover/,
  },
  {
    name: 'election: failover priority 0 is never promoted either',
    topology: asReplica,
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, { ...ahead, tags: { ...DEFAULT_TAGS, failoverPriority: 0 } }] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /cannot take it \(its failover priority is 0\)/,
  },
  {
    name: 'election: this node tagged nofailover never takes the lease, and says so when it is the most advanced',
    topology: { ...asReplica, tags: nofailover },
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11` })],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-1, which has more transactions than any candidate, cannot take it \(it is tagged nofailover\)/,
  },
  {
    name: 'election: this node tagged nofailover, as advanced as a candidate: it waits for that one',
    topology: { ...asReplica, tags: nofailover },
    observation: observed(behind, { lease: free(PRIMARY.name), peers: [deadPrimary, peer(OTHER.name, atTwelve)] }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2 is the most advanced candidate/,
  },
  {
    name: 'election: among equally advanced candidates the highest failover priority wins',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [deadPrimary, peer(OTHER.name, { ...atTwelve, tags: { ...DEFAULT_TAGS, failoverPriority: 5 } })],
    }),
    state: 'waiting-for-election',
    action: 'none',
    reason: /mysql-ha-2 is the most advanced candidate/,
  },
  {
    name: 'election: priority never beats more transactions',
    topology: asReplica,
    observation: observed(behind, {
      lease: free(PRIMARY.name),
      peers: [
        deadPrimary,
        peer(OTHER.name, { gtidExecuted: `${UUID0}:1-11`, retrievedGtids: `${UUID0}:1-11`, tags: { ...DEFAULT_TAGS, failoverPriority: 5 } }),
      ],
    }),
    state: 'electing',
    action: 'acquire-lease',
    reason: /mysql-ha-1 is the most advanced candidate/,
  },
  {
    name: 'switchover: refused to a replica tagged nofailover',
    topology: asPrimary,
    observation: askedToSwitchOver(OTHER.name, [peer(REPLICA.name), peer(OTHER.name, { tags: nofailover })]),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /mysql-ha-2 cannot take over: it is tagged nofailover/,
  },
  {
    name: 'switchover without a candidate: never to a replica tagged nofailover, however advanced',
    topology: asPrimary,
    observation: askedToSwitchOver(null, [
      peer(REPLICA.name, { gtidExecuted: `${UUID0}:1-9`, retrievedGtids: `${UUID0}:1-9` }),
      peer(OTHER.name, { tags: nofailover }),
    ]),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /planned switchover to mysql-ha-1 \(the most advanced replica\)/,
  },
  {
    name: 'switchover without a candidate: priority breaks a tie between equally advanced replicas',
    topology: asPrimary,
    observation: askedToSwitchOver(null, [peer(REPLICA.name), peer(OTHER.name, { tags: { ...DEFAULT_TAGS, failoverPriority: 3 } })]),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /planned switchover to mysql-ha-2 \(the most advanced replica\)/,
  },
  {
    name: 'switchover: refused while the pod is terminating',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: { ...terminating, switchover: { candidate: null } } }),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /pod terminating/,
    refused: /mysql-ha-0 is terminating \(its pod is being deleted\)/,
  },
  {
    name: 'switchover: refused to a replica that is terminating',
    topology: asPrimary,
    observation: askedToSwitchOver(OTHER.name, [peer(REPLICA.name), peer(OTHER.name, { terminating: true })]),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /mysql-ha-2 cannot take over: it is terminating too/,
  },
  // Planned switchover: a request read this tick
  {
    name: 'switchover: the serving primary hands over to the most advanced replica',
    topology: asPrimary,
    observation: askedToSwitchOver(null),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /planned switchover to mysql-ha-2 \(the most advanced replica\): stopping writes on mysql-ha-0/,
  },
  {
    name: 'switchover: to the replica that has applied the most, over one that received more but applies behind',
    topology: asPrimary,
    observation: askedToSwitchOver(null, [
      peer(REPLICA.name, { gtidExecuted: `${UUID0}:1-10`, retrievedGtids: `${UUID0}:1-10` }),
      peer(OTHER.name, { gtidExecuted: `${UUID0}:1-8`, retrievedGtids: `${UUID0}:1-12` }),
    ]),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /planned switchover to mysql-ha-1 \(the most advanced replica\)/,
  },
  {
    name: 'switchover: to the requested replica, even a less advanced one (it catches up first)',
    topology: asPrimary,
    observation: askedToSwitchOver(REPLICA.name),
    state: 'primary-handing-over',
    action: 'hand-over',
    reason: /planned switchover to mysql-ha-1 \(the requested replica\)/,
  },
  {
    name: 'switchover: refused for a pod that is not in the cluster',
    topology: asPrimary,
    observation: askedToSwitchOver('mysql-ha-7'),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /mysql-ha-7 is not a replica of this cluster \(replicas: mysql-ha-1, mysql-ha-2\)/,
  },
  {
    name: 'switchover: refused when the requested replica cannot be asked',
    topology: asPrimary,
    observation: askedToSwitchOver(REPLICA.name, [peer(REPLICA.name, { unreachable: 'agent unreachable (ETIMEDOUT)', mysqldUp: false }), peer(OTHER.name)]),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /mysql-ha-1 cannot take over: agent unreachable \(ETIMEDOUT\)/,
  },
  {
    name: 'switchover: refused to a replica holding errant transactions',
    topology: asPrimary,
    observation: askedToSwitchOver(OTHER.name, [peer(REPLICA.name), peer(OTHER.name, { errant: true })]),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /mysql-ha-2 cannot take over: its mysqld is down or it holds errant transactions/,
  },
  {
    name: 'switchover: refused when no replica can take over',
    topology: asPrimary,
    observation: askedToSwitchOver(null, [peer(REPLICA.name, { mysqldUp: false }), peer(OTHER.name, { errant: true })]),
    state: 'primary-serving',
    action: 'none',
    reason: /is the primary and writable/,
    refused: /no replica can take over \(every one is unreachable, down, errant or terminating\)/,
  },
  {
    name: 'switchover: a replica refuses it and names the primary to ask',
    topology: asReplica,
    observation: observed(up({ replica: streaming() }), { controls: switchoverTo(null) }),
    state: 'replica-streaming',
    action: 'none',
    reason: /following mysql-ha-0/,
    refused: /mysql-ha-1 is not the serving primary \(following mysql-ha-0.*\): send the switchover to mysql-ha-0/,
  },
  {
    name: 'switchover: a primary still setting up refuses it and goes on setting up',
    topology: asPrimary,
    observation: observedAsPrimary(up({ variables: variables({ serverUuid: UUID0 }) }), { peers: replicasOfPrimary, controls: switchoverTo(null) }),
    state: 'primary-read-only',
    action: 'setup-primary',
    reason: /not serving yet/,
    refused: /mysql-ha-0 is not the serving primary/,
  },
  {
    name: 'switchover: a primary cut off from the lease store refuses it (the lease cannot move)',
    topology: asPrimary,
    observation: observedAsPrimary(servingPrimary, { lease: { state: 'unknown', error: 'etcd down' }, peers: replicasOfPrimary, controls: switchoverTo(null) }),
    state: 'primary-serving',
    action: 'none',
    reason: /lease store unreachable \(etcd down\)/,
    refused: /mysql-ha-0 is not the serving primary \(lease store unreachable/,
  },
];

for (const row of table) {
  test(`decide: ${row.name}`, () => {
    const decision = decide(row.observation, context(row.topology, row.context));
    assert.equal(decision.state, row.state, decision.reason);
    assert.equal(decision.action.kind, row.action);
    assert.match(decision.reason, row.reason);
    if (row.refused) assert.match(decision.switchoverRefused ?? 'not refused', row.refused);
    else assert.equal(decision.switchoverRefused, undefined);
    if (row.reinitRefused) assert.match(decision.reinitRefused ?? 'not refused', row.reinitRefused);
    else assert.equal(decision.reinitRefused, undefined);
    if (row.failoverRefused) assert.match(decision.failoverRefused ?? 'not refused', row.failoverRefused);
    else assert.equal(decision.failoverRefused, undefined);
    if (row.restartRefused) assert.match(decision.restartRefused ?? 'not refused', row.restartRefused);
    else assert.equal(decision.restartRefused, undefined);
  });
}

test("decide: a terminating primary's hand-over ends in time to step down before the agent's limit", () => {
  const late = observedAsPrimary(servingPrimary, { peers: replicasOfPrimary, controls: { ...terminating, terminatingSince: NOW - 20_000 } });
  assert.deepEqual(decide(late, context(asPrimary)).action, { kind: 'hand-over', candidate: OTHER, timeoutMs: 15_000 });
});

test('decide: a hand-over names the candidate pod to give the lease to', () => {
  assert.deepEqual(decide(askedToSwitchOver(null), context(asPrimary)).action, { kind: 'hand-over', candidate: OTHER, timeoutMs: 30_000 });
});

test('decide: a replica configures itself to follow the lease holder', () => {
  const decision = decide(observed(up(), { primaryPosition: primaryReady() }), context(asReplica));
  assert.deepEqual(decision.action, { kind: 'configure-replication', source: PRIMARY });
});

test('decide: an expired Lease is replaced by compare-and-set on the version the agent saw', () => {
  const lease = {
    state: 'free' as const,
    record: record(PRIMARY.name, { version: '42' }),
    lastHolder: PRIMARY.name,
    bootstrapped: true,
    freeSince: NOW - 1000,
  };
  const decision = decide(observed(behind, { lease, peers: [deadPrimary, peer(OTHER.name, { gtidExecuted: '', retrievedGtids: '' })] }), context(asReplica));
  assert.deepEqual(decision.action, { kind: 'acquire-lease', expectedVersion: '42', reason: decision.reason });
});

test('decide: the rebuild clones the lease holder', () => {
  const observation = observed(up({ variables: variables({ gtidExecuted: `${UUID0}:1-10,${UUID1}:1-2` }) }), { primaryPosition: primaryReady() });
  assert.deepEqual(decide(observation, context(asReplica)).action, { kind: 'rebuild', donor: PRIMARY });
});

test('needsPrimaryPosition: only a reachable replica without the holder as source asks', () => {
  const lease = heldBy(PRIMARY.name, REPLICA.name);
  assert.deepEqual(needsPrimaryPosition({ mysql: up(), lease }, asReplica), PRIMARY);
  assert.deepEqual(needsPrimaryPosition({ mysql: up({ replica: streaming({ sourceHost: OTHER.host }) }), lease }, asReplica), PRIMARY);
  assert.equal(needsPrimaryPosition({ mysql: up({ replica: streaming() }), lease }, asReplica), null);
  assert.equal(needsPrimaryPosition({ mysql: up(), lease: heldBy(PRIMARY.name, PRIMARY.name) }, asPrimary), null);
  assert.equal(needsPrimaryPosition({ mysql: up(), lease: free() }, asReplica), null);
  assert.equal(needsPrimaryPosition({ mysql: { up: false, error: 'down' }, lease }, asReplica), null);
});

test('decide reads neither the clock nor the network: every row decides with both forbidden', (t) => {
  const forbidden = (what: string) => () => {
    throw new Error(`decide used ${what}`);
  };
  t.mock.method(Date, 'now', forbidden('Date.now()'));
  t.mock.method(performance, 'now', forbidden('performance.now()'));
  t.mock.method(globalThis, 'fetch', forbidden('fetch()'));
  for (const row of table) assert.equal(decide(row.observation, context(row.topology, row.context)).state, row.state, row.name);
});
