// The contract of agent/coordination/lease.ts, checked against any LeaseStore: each test
// names the numbered points it covers. Two store instances on one backing record stand for
// two agents.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { LEASE_HISTORY_LIMIT, type LeaseHistoryEntry, type LeaseRecord, type LeaseStore, type LeaseWrite } from '../../agent/coordination/lease.ts';

export interface LeaseStoreFixture {
  /** This agent's store. */
  store: LeaseStore;
  /** Another agent's store on the same record. */
  other: LeaseStore;
  /** The request timeout both stores were made with. */
  requestTimeoutMs: number;
  /** Makes the backend unreachable (etcd: stop the server; Kubernetes: close the API server's port). */
  stopBackend(): Promise<void>;
  /** A store of the same kind on the server at `url`, with this request timeout. */
  storeAt(url: string, requestTimeoutMs: number): LeaseStore;
  cleanup(): Promise<void>;
}

/** Whole seconds, so stores that keep the TTL in seconds report it unchanged; long enough not to expire during a test. */
const ttlMs = 10_000;
/** Why the tests take the lease; point 8 finds it in the history. */
const reason = 'a contract test';

function won(write: LeaseWrite): LeaseRecord {
  assert.ok(write.ok, `expected the write to succeed, got ${JSON.stringify(write)}`);
  return write.record;
}

function refused(write: LeaseWrite): LeaseRecord | null {
  assert.ok(!write.ok, `expected the write to be refused, got ${JSON.stringify(write)}`);
  return write.current;
}

/** A TCP server that accepts connections and never answers: a backend that hangs. */
async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Point 7: "every call gives up after the store's request timeout". That bound is part of the
 * contract, not a performance target: the fence margin (MYSQL_HA_STORE_TIMEOUT_MS) counts on it.
 * Checks allow this much on top of the request timeout, generously, for a loaded test machine;
 * a store that retried on past its timeout, or hung, would still fail them.
 */
const giveUpSlackMs = 3000;

/** The call rejects in time, with a message that names the store. */
async function assertFailsNamingStore(call: Promise<unknown>, store: LeaseStore, withinMs: number): Promise<void> {
  const started = performance.now();
  await assert.rejects(call, (error: Error) => {
    assert.ok(error.message.includes(store.description), `the message should name ${store.description}: ${error.message}`);
    assert.match(error.message, /cannot \w+/);
    return true;
  });
  const elapsed = performance.now() - started;
  assert.ok(elapsed < withinMs, `gave up after ${Math.round(elapsed)} ms, more than ${withinMs} ms`);
}

export function leaseStoreContract(name: string, makeStore: () => Promise<LeaseStoreFixture>): void {
  const withStores = (test: (fixture: LeaseStoreFixture) => Promise<void>) => async () => {
    const fixture = await makeStore();
    try {
      await test(fixture);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`LeaseStore contract: ${name}`, () => {
    it(
      '1, 6: with nothing written, read() is null and the cluster is not bootstrapped',
      withStores(async ({ store, other }) => {
        assert.equal(await store.read(), null);
        assert.equal(await other.read(), null);
        assert.equal(await store.isBootstrapped(), false);
      }),
    );

    it(
      '3: acquire(null) creates the record with term 1, the holder, the TTL and renewedAt = now',
      withStores(async ({ store, other }) => {
        const before = Date.now();
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        const after = Date.now();
        assert.equal(record.holder, 'a');
        assert.equal(record.term, 1);
        assert.equal(record.ttlMs, ttlMs);
        assert.ok(record.renewedAt >= before && record.renewedAt <= after, `renewedAt ${record.renewedAt} not within [${before}, ${after}]`);
        assert.equal(typeof record.version, 'string');
        assert.notEqual(record.version, '');
        assert.deepEqual(await store.read(), record);
        assert.deepEqual(await other.read(), record);
      }),
    );

    it(
      '3, 4: a hand-over is written as one (handedOver), an election is not, and renew keeps it',
      withStores(async ({ store, other }) => {
        const elected = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.equal(elected.handedOver, false);
        const handed = won(await store.acquire('b', ttlMs, elected.version, true, reason));
        assert.equal(handed.handedOver, true);
        assert.deepEqual(await other.read(), handed);
        const renewed = won(await other.renew(handed, handed.ttlMs));
        assert.equal(renewed.handedOver, true);
        const taken = won(await store.acquire('a', ttlMs, renewed.version, false, reason));
        assert.equal(taken.handedOver, false);
        assert.deepEqual(await other.read(), taken);
      }),
    );

    it(
      '2, 3: acquire(null) is refused while a record exists, returns that record, and changes nothing',
      withStores(async ({ store, other }) => {
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.deepEqual(refused(await other.acquire('b', ttlMs, null, false, reason)), record);
        assert.deepEqual(refused(await store.acquire('a', ttlMs, null, false, reason)), record);
        assert.deepEqual(await other.read(), record);
      }),
    );

    it(
      '2, 3, 8: of two concurrent acquires exactly one wins, the loser gets the winner, and only the winner is in the history',
      withStores(async ({ store, other }) => {
        const elected: LeaseRecord[] = [];
        const assertOneWinner = async (expected: string | null): Promise<LeaseRecord> => {
          const writes = await Promise.all([store.acquire('a', ttlMs, expected, false, reason), other.acquire('b', ttlMs, expected, false, reason)]);
          const winners = writes.filter((write) => write.ok);
          assert.equal(winners.length, 1, `expected exactly one winner: ${JSON.stringify(writes)}`);
          const winner = won(winners[0]!);
          assert.deepEqual(refused(writes.find((write) => !write.ok)!), winner);
          assert.deepEqual(await store.read(), winner);
          elected.push(winner);
          return winner;
        };
        // Creating the first record, then taking it over by version, then after releases.
        let record = await assertOneWinner(null);
        for (let round = 0; round < 3; round++) record = await assertOneWinner(record.version);
        for (let round = 0; round < 3; round++) {
          assert.equal(await (record.holder === 'a' ? store : other).release(record), true);
          record = await assertOneWinner(null);
        }
        const changes = (await other.history()).map(({ term, holder }) => ({ term, holder }));
        assert.deepEqual(
          changes,
          elected.map(({ term, holder }) => ({ term, holder })),
        );
      }),
    );

    it(
      '2: writes naming a stale version are refused with the current record and change nothing',
      withStores(async ({ store, other }) => {
        const first = won(await store.acquire('a', ttlMs, null, false, reason));
        const renewed = won(await store.renew(first, first.ttlMs));
        assert.deepEqual(refused(await other.acquire('b', ttlMs, first.version, false, reason)), renewed);
        assert.deepEqual(refused(await store.renew(first, first.ttlMs)), renewed);
        assert.equal(await store.release(first), false);
        assert.deepEqual(await other.read(), renewed);
        // A version of a record that is gone: refused, with nothing to return.
        assert.equal(await store.release(renewed), true);
        assert.equal(refused(await other.acquire('b', ttlMs, renewed.version, false, reason)), null);
        assert.equal(await other.read(), null);
      }),
    );

    it(
      '2, 4: renew by the holder keeps the term, moves renewedAt and changes the version',
      withStores(async ({ store, other }) => {
        const versions = new Set<string>();
        let record = won(await store.acquire('a', ttlMs, null, false, reason));
        versions.add(record.version);
        for (let round = 0; round < 3; round++) {
          const before = Date.now();
          const renewed = won(await store.renew(record, record.ttlMs));
          assert.equal(renewed.holder, 'a');
          assert.equal(renewed.term, record.term);
          assert.equal(renewed.ttlMs, record.ttlMs);
          assert.ok(
            renewed.renewedAt >= before && renewed.renewedAt > record.renewedAt,
            `renewedAt did not move forward: ${record.renewedAt} -> ${renewed.renewedAt}`,
          );
          assert.ok(!versions.has(renewed.version), `version ${renewed.version} was used before`);
          versions.add(renewed.version);
          assert.deepEqual(await other.read(), renewed);
          record = renewed;
        }
      }),
    );

    it(
      '4: renew sets the TTL its holder gives (a lease handed over by a peer with another TTL, a TTL changed by a rollout)',
      withStores(async ({ store, other }) => {
        const handed = won(await other.acquire('a', ttlMs, null, true, reason));
        const longer = won(await store.renew(handed, 3 * ttlMs));
        assert.equal(longer.ttlMs, 3 * ttlMs);
        assert.equal(longer.term, handed.term);
        assert.equal(longer.handedOver, true);
        assert.deepEqual(await other.read(), longer);
        const back = won(await store.renew(longer, ttlMs));
        assert.equal(back.ttlMs, ttlMs);
        assert.deepEqual(await other.read(), back);
      }),
    );

    it(
      '4, 5: a non-holder can neither renew nor release the record',
      withStores(async ({ store, other }) => {
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.deepEqual(refused(await other.renew({ ...record, holder: 'b' }, record.ttlMs)), record);
        assert.equal(await other.release({ ...record, holder: 'b' }), false);
        // After a takeover the old holder is the non-holder.
        const taken = won(await other.acquire('b', ttlMs, record.version, false, reason));
        assert.deepEqual(refused(await store.renew(record, record.ttlMs)), taken);
        assert.equal(await store.release(record), false);
        assert.deepEqual(await store.read(), taken);
      }),
    );

    it(
      '3: the term increments on every change of hands, takeovers and releases alike',
      withStores(async ({ store, other }) => {
        const a1 = won(await store.acquire('a', ttlMs, null, false, reason));
        const b2 = won(await other.acquire('b', ttlMs, a1.version, false, reason));
        assert.equal(b2.term, 2);
        assert.equal(b2.holder, 'b');
        const a3 = won(await store.acquire('a', ttlMs, b2.version, false, reason));
        assert.equal(a3.term, 3);
        const a3renewed = won(await store.renew(a3, a3.ttlMs));
        assert.equal(a3renewed.term, 3);
        assert.equal(await store.release(a3renewed), true);
        const b4 = won(await other.acquire('b', ttlMs, null, false, reason));
        assert.equal(b4.term, 4);
        assert.equal(await other.release(b4), true);
        // The same holder again is a change of hands too: it went through "nobody".
        assert.equal(won(await other.acquire('b', ttlMs, null, false, reason)).term, 5);
      }),
    );

    it(
      '1, 5: after a release read() is null, a second release is refused, and acquire(null) succeeds',
      withStores(async ({ store, other }) => {
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.equal(await store.release(record), true);
        assert.equal(await store.read(), null);
        assert.equal(await other.read(), null);
        assert.equal(await store.release(record), false);
        assert.equal(refused(await store.renew(record, record.ttlMs)), null);
        const again = won(await other.acquire('b', ttlMs, null, false, reason));
        assert.equal(again.holder, 'b');
        assert.equal(again.term, 2);
        assert.deepEqual(await store.read(), again);
      }),
    );

    it(
      '6: bootstrapped is one-way and survives acquire, renew, takeover and release',
      withStores(async ({ store, other }) => {
        // Before any lease exists, as well as while one is held.
        await store.markBootstrapped();
        assert.equal(await other.isBootstrapped(), true);
        await store.markBootstrapped();
        assert.equal(await store.isBootstrapped(), true);
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.equal(record.term, 1);
        await other.markBootstrapped();
        // Setting the flag may give the record a new version (a Lease annotation does), but
        // it is still the same lease: same holder and term, renewable once read again.
        const current = await store.read();
        assert.equal(current?.holder, 'a');
        assert.equal(current?.term, 1);
        const renewed = won(await store.renew(current!, current!.ttlMs));
        const taken = won(await other.acquire('b', ttlMs, renewed.version, false, reason));
        assert.equal(await other.release(taken), true);
        assert.equal(await store.read(), null);
        assert.equal(await store.isBootstrapped(), true);
        assert.equal(await other.isBootstrapped(), true);
      }),
    );

    it(
      '6: bootstrapped set while a lease is held stays set after the lease is released',
      withStores(async ({ store, other }) => {
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        assert.equal(await other.isBootstrapped(), false);
        await store.markBootstrapped();
        const current = await store.read();
        assert.ok(current !== null);
        assert.equal(await store.release(current), true);
        assert.equal(await other.isBootstrapped(), true);
        assert.equal(won(await other.acquire('b', ttlMs, null, false, reason)).term, record.term + 1);
        assert.equal(await store.isBootstrapped(), true);
      }),
    );

    it(
      '8: every acquire appends who took the lease from whom, how, why and when, oldest first',
      withStores(async ({ store, other }) => {
        assert.deepEqual(await store.history(), []);
        const times: Array<[number, number]> = [];
        const timed = async (write: Promise<LeaseWrite>): Promise<LeaseRecord> => {
          const before = Date.now();
          const record = won(await write);
          times.push([before, Date.now()]);
          return record;
        };
        const a1 = await timed(store.acquire('a', ttlMs, null, false, 'the first election'));
        const b2 = await timed(store.acquire('b', ttlMs, a1.version, true, 'a switchover to b'));
        const a3 = await timed(other.acquire('a', ttlMs, b2.version, false, "b's lease expired"));
        assert.equal(await other.release(a3), true);
        await timed(other.acquire('b', ttlMs, null, false, 'a released it'));
        const history = await other.history();
        const expected: Array<Omit<LeaseHistoryEntry, 'at'>> = [
          { term: 1, holder: 'a', from: null, how: 'election', reason: 'the first election' },
          { term: 2, holder: 'b', from: 'a', how: 'hand-over', reason: 'a switchover to b' },
          { term: 3, holder: 'a', from: 'b', how: 'election', reason: "b's lease expired" },
          { term: 4, holder: 'b', from: 'a', how: 'election', reason: 'a released it' },
        ];
        assert.deepEqual(
          history.map(({ at: _at, ...entry }) => entry),
          expected,
        );
        history.forEach(({ at }, index) => {
          const [before, after] = times[index]!;
          assert.ok(at >= before && at <= after, `entry ${index}: at ${at} not within [${before}, ${after}]`);
        });
        assert.deepEqual(await store.history(), history);
      }),
    );

    it(
      '8: refused acquires, renewals, the bootstrapped flag and a release leave the history as it is',
      withStores(async ({ store, other }) => {
        const first = won(await store.acquire('a', ttlMs, null, false, reason));
        const history = await store.history();
        assert.equal(history.length, 1);
        refused(await other.acquire('b', ttlMs, null, false, 'refused: a record exists'));
        won(await store.renew(first, first.ttlMs));
        refused(await other.acquire('b', ttlMs, first.version, false, 'refused: a stale version'));
        await store.markBootstrapped();
        // Setting the flag may give the record a new version (see 6).
        assert.equal(await store.release((await store.read())!), true);
        assert.deepEqual(await other.history(), history);
      }),
    );

    it(
      `8: the history keeps the last ${LEASE_HISTORY_LIMIT} entries`,
      withStores(async ({ store, other }) => {
        const rounds = LEASE_HISTORY_LIMIT + 5;
        let record: LeaseRecord | null = null;
        for (let round = 1; round <= rounds; round++) {
          const holder = round % 2 === 0 ? 'a' : 'b';
          record = won(await store.acquire(holder, ttlMs, record?.version ?? null, false, `round ${round}`));
        }
        const history = await other.history();
        assert.equal(history.length, LEASE_HISTORY_LIMIT);
        // Round n took term n: the oldest rounds are the ones dropped.
        const firstKept = rounds - LEASE_HISTORY_LIMIT + 1;
        const expected = Array.from({ length: LEASE_HISTORY_LIMIT }, (_, index) => [firstKept + index, `round ${firstKept + index}`]);
        assert.deepEqual(
          history.map(({ term, reason }) => [term, reason]),
          expected,
        );
      }),
    );

    it(
      '7: with the backend stopped every call rejects in time with an error naming the store',
      withStores(async ({ store, other, requestTimeoutMs, stopBackend }) => {
        const record = won(await store.acquire('a', ttlMs, null, false, reason));
        await stopBackend();
        const withinMs = requestTimeoutMs + giveUpSlackMs;
        await assertFailsNamingStore(store.read(), store, withinMs);
        await assertFailsNamingStore(other.acquire('b', ttlMs, null, false, reason), other, withinMs);
        await assertFailsNamingStore(other.acquire('b', ttlMs, record.version, false, reason), other, withinMs);
        await assertFailsNamingStore(store.renew(record, record.ttlMs), store, withinMs);
        await assertFailsNamingStore(store.release(record), store, withinMs);
        await assertFailsNamingStore(store.isBootstrapped(), store, withinMs);
        await assertFailsNamingStore(store.markBootstrapped(), store, withinMs);
        await assertFailsNamingStore(store.history(), store, withinMs);
      }),
    );

    it(
      '7: a backend that accepts connections but never answers fails the call after the request timeout',
      withStores(async ({ storeAt }) => {
        const silent = await startSilentServer();
        const requestTimeoutMs = 500;
        const store = storeAt(silent.url, requestTimeoutMs);
        try {
          const started = performance.now();
          await assertFailsNamingStore(store.read(), store, requestTimeoutMs + giveUpSlackMs);
          // Also the contract, the other way: a slow but live backend gets the whole request timeout
          // (less a little timer granularity). A slow machine can only make this longer, never shorter.
          assert.ok(performance.now() - started >= requestTimeoutMs - 50, 'gave up before the request timeout');
          await assertFailsNamingStore(store.acquire('a', ttlMs, null, false, reason), store, requestTimeoutMs + giveUpSlackMs);
          await assertFailsNamingStore(store.history(), store, requestTimeoutMs + giveUpSlackMs);
        } finally {
          await store.close();
          await silent.close();
        }
      }),
    );
  });
}
