// LeaseKeeper on a fake clock and an in-memory store: the fencing deadline, the renew period,
// expiry by version age, and store failures as observations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseKeeper } from '../../agent/coordination/lease-keeper.ts';
import { AgentError } from '../../agent/errors.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { MemoryLeaseStore } from '../support/memory-lease-store.ts';

const timings = { ttlMs: 5000, renewPeriodMs: 1000, fenceMarginMs: 1500 };
const START = 1_000_000;
const reason = 'a lease keeper test';

function keeperOf(self = 'mysql-ha-0') {
  const clock = new FakeClock(START);
  const store = new MemoryLeaseStore(clock);
  return { clock, store, keeper: new LeaseKeeper(store, self, timings, clock) };
}

test('lease keeper: the fencing deadline is TTL − margin after the request was sent, not after the answer', async () => {
  const { clock, store, keeper } = keeperOf();
  store.latencyMs = 400;
  await keeper.acquire(null, reason);
  const seen = await keeper.observe(true);
  assert.equal(seen.heldUntil, START + timings.ttlMs - timings.fenceMarginMs);
  assert.deepEqual(seen.lease.state === 'held' && [seen.lease.mine, seen.lease.record.holder], [true, 'mysql-ha-0']);
  assert.equal(store.bootstrapped, true, 'the first lease marks the cluster bootstrapped');
  assert.equal(clock.now(), START + 400);
});

test('lease keeper: renews once per renew period, and each renewal moves the deadline', async () => {
  const { clock, store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  clock.advance(timings.renewPeriodMs - 1);
  await keeper.observe(true);
  assert.equal(store.calls.filter((call) => call === 'renew').length, 0, 'not due yet');
  clock.advance(1);
  const renewed = await keeper.observe(true);
  assert.equal(store.calls.filter((call) => call === 'renew').length, 1);
  assert.equal(renewed.heldUntil, START + timings.renewPeriodMs + timings.ttlMs - timings.fenceMarginMs);
});

test('lease keeper: a lease handed over by a peer with a shorter TTL than this fencing margin is renewed at once with this TTL, so it serves', async () => {
  const { store, keeper } = keeperOf();
  // A peer still on an older, shorter TTL (a rollout changing it): as written, it would expire before this node's margin.
  store.put('mysql-ha-0', timings.fenceMarginMs - 500, 4, true);
  const seen = await keeper.observe(true);
  assert.equal(store.record?.ttlMs, timings.ttlMs, "the record now carries this holder's TTL");
  assert.equal(seen.heldUntil, START + timings.ttlMs - timings.fenceMarginMs);
  assert.equal(store.record?.handedOver, true);
});

test('lease keeper: a holder that may not keep the lease (mysqld down past its grace) stops renewing; its deadline stays', async () => {
  const { clock, store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  clock.advance(timings.renewPeriodMs * 3);
  const seen = await keeper.observe(false);
  assert.ok(!store.calls.includes('renew'));
  assert.equal(seen.heldUntil, START + timings.ttlMs - timings.fenceMarginMs);
});

test("lease keeper: a refused renewal (someone else took the lease) ends this node's deadline at once", async () => {
  const { clock, store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  store.put('mysql-ha-1', timings.ttlMs);
  clock.advance(timings.renewPeriodMs);
  const seen = await keeper.observe(true);
  assert.equal(seen.heldUntil, null);
  assert.ok(seen.lease.state === 'held' && !seen.lease.mine && seen.lease.record.holder === 'mysql-ha-1');
});

test('lease keeper: an unreachable store is an observation ("unknown") and the last deadline still holds', async () => {
  const { clock, store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  store.unreachable = 'connection refused';
  clock.advance(timings.renewPeriodMs);
  const seen = await keeper.observe(true);
  assert.equal(seen.lease.state, 'unknown');
  assert.match(seen.lease.state === 'unknown' ? seen.lease.error : '', /memory lease store: cannot read: connection refused/);
  assert.equal(seen.heldUntil, START + timings.ttlMs - timings.fenceMarginMs, 'writable until the last renewal runs out, no longer');
});

test("lease keeper: another holder's record is expired once its version has not changed for its TTL on this agent's clock", async () => {
  const { clock, store, keeper } = keeperOf('mysql-ha-1');
  const written = store.put('mysql-ha-0', timings.ttlMs);
  assert.equal((await keeper.observe(true)).lease.state, 'held');
  clock.advance(timings.ttlMs);
  assert.equal((await keeper.observe(true)).lease.state, 'held', 'exactly TTL old: not yet');
  store.put('mysql-ha-0', timings.ttlMs, written.term); // renewed: a new version restarts the count from when it is seen
  clock.advance(1);
  const renewed = (await keeper.observe(true)).lease;
  assert.equal(
    renewed.state === 'held' && renewed.expiresAt,
    clock.now() + timings.ttlMs,
    'when it will be judged expired: TTL after the new version was seen',
  );
  clock.advance(timings.ttlMs);
  assert.equal((await keeper.observe(true)).lease.state, 'held');
  clock.advance(1);
  const expired = (await keeper.observe(true)).lease;
  assert.equal(expired.state, 'free');
  assert.equal(expired.state === 'free' && expired.record?.version, store.record?.version, 'the expired record is kept for compare-and-set');
});

test('lease keeper: no wall clock is read, so an NTP step cannot move a deadline', async (t) => {
  t.mock.method(Date, 'now', () => {
    throw new Error('Date.now() read');
  });
  t.mock.method(performance, 'now', () => {
    throw new Error('performance.now() read');
  });
  const { clock, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  clock.advance(timings.renewPeriodMs);
  assert.equal((await keeper.observe(true)).heldUntil, START + timings.renewPeriodMs + timings.ttlMs - timings.fenceMarginMs);
});

test('lease keeper: changes of holder are noted when seen, a hand-over or a failover as the record says', async () => {
  const { clock, store, keeper } = keeperOf('mysql-ha-2');
  store.put('mysql-ha-0', timings.ttlMs);
  assert.deepEqual((await keeper.observe(true)).leaseChanges, [{ holder: 'mysql-ha-0', at: START, how: 'first-seen' }]);
  clock.advance(700);
  store.put('mysql-ha-1', timings.ttlMs, undefined, true);
  assert.deepEqual((await keeper.observe(true)).leaseChanges.at(-1), { holder: 'mysql-ha-1', at: START + 700, how: 'hand-over' });
  clock.advance(300);
  // Released and taken by an election between two looks: still a failover.
  store.put('mysql-ha-0', timings.ttlMs);
  const changes = (await keeper.observe(true)).leaseChanges;
  assert.deepEqual(changes.at(-1), { holder: 'mysql-ha-0', at: START + 1000, how: 'failover' });
  assert.equal(changes.length, 3);
});

test('lease keeper: a holder that takes its own released lease back is no change; its hand-over writes the record as one', async () => {
  const { clock, store, keeper } = keeperOf('mysql-ha-0');
  await keeper.acquire(null, reason);
  await keeper.observe(true);
  store.record = null;
  await keeper.observe(true);
  await keeper.acquire(null, reason);
  assert.equal((await keeper.observe(true)).leaseChanges.length, 1);
  clock.advance(500);
  await keeper.handOver('mysql-ha-1');
  assert.equal((await store.read())?.handedOver, true);
  assert.deepEqual((await keeper.observe(true)).leaseChanges.at(-1), { holder: 'mysql-ha-1', at: START + 500, how: 'hand-over' });
});

test('lease keeper: losing an election and handing over a changed lease fail with LEASE_CHANGED', async () => {
  const { store, keeper } = keeperOf();
  store.put('mysql-ha-1', timings.ttlMs);
  await assert.rejects(
    keeper.acquire(null, reason),
    (error: unknown) => error instanceof AgentError && error.code === 'MHA_LEASE_CHANGED' && /mysql-ha-1 took the lease/.test(error.message),
  );
  await assert.rejects(keeper.handOver('mysql-ha-2'), (error: unknown) => error instanceof AgentError && /does not hold it/.test(error.message));
});

test("lease keeper: a hand-over gives the lease to the candidate by compare-and-set and ends this node's deadline", async () => {
  const { store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  await keeper.observe(true);
  const term = store.record!.term;
  await keeper.handOver('mysql-ha-1');
  assert.deepEqual([store.record?.holder, store.record?.term], ['mysql-ha-1', term + 1]);
  const changes = (await store.history()).map(({ holder, how, reason }) => ({ holder, how, reason }));
  assert.deepEqual(changes, [
    { holder: 'mysql-ha-0', how: 'election', reason },
    { holder: 'mysql-ha-1', how: 'hand-over', reason: 'planned hand-over from mysql-ha-0' },
  ]);
  assert.equal((await keeper.observe(true)).heldUntil, null);
});

test('lease keeper: release deletes only its own record', async () => {
  const { store, keeper } = keeperOf();
  await keeper.acquire(null, reason);
  await keeper.observe(true);
  await keeper.release();
  assert.equal(store.record, null);
  const seen = await keeper.observe(true);
  assert.ok(seen.lease.state === 'free' && seen.lease.lastHolder === 'mysql-ha-0' && seen.lease.bootstrapped);
});

test('lease keeper: a free lease says since when this agent sees it free, on its own clock; held again, the next free view starts anew', async () => {
  const { clock, store, keeper } = keeperOf('mysql-ha-1');
  store.put('mysql-ha-0', timings.ttlMs);
  assert.equal((await keeper.observe(true)).lease.state, 'held');
  store.record = null; // released by its holder
  clock.advance(100);
  const first = (await keeper.observe(true)).lease;
  clock.advance(500);
  const later = (await keeper.observe(true)).lease;
  assert.ok(first.state === 'free' && later.state === 'free');
  assert.equal(first.freeSince, START + 100);
  assert.equal(later.freeSince, START + 100, 'the same stretch of being free');
  store.put('mysql-ha-2', timings.ttlMs);
  assert.equal((await keeper.observe(true)).lease.state, 'held');
  store.record = null; // released by its holder
  clock.advance(50);
  const again = (await keeper.observe(true)).lease;
  assert.ok(again.state === 'free');
  assert.equal(again.freeSince, START + 650);
});
