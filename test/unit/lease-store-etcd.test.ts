// EtcdLeaseStore against a real etcd (Debian's etcd-server), one fresh server per test on loopback.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdLeaseStore } from '../../agent/coordination/etcd-lease-store.ts';
import { freePorts } from '../support/free-port.ts';
import { type LeaseStoreFixture, leaseStoreContract } from '../support/lease-store-contract.ts';

const etcdBinary = '/usr/bin/etcd';
const requestTimeoutMs = 2000;
const reason = 'an etcd store test';

/** etcd 3.4 refuses to start on architectures it does not support unless told this (Go's name for it). */
const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

interface EtcdServer {
  url: string;
  stop(): Promise<void>;
}

/** Ports found free can be taken before etcd binds them (by another connection's ephemeral port): a few tries. */
async function startEtcd(): Promise<EtcdServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce();
    } catch (error) {
      if (attempt === 3 || !/address already in use/.test(String(error))) throw error;
    }
  }
}

async function startEtcdOnce(): Promise<EtcdServer> {
  if (!existsSync(etcdBinary)) throw new Error(`${etcdBinary} is missing: install Debian's etcd-server package (apt-get install etcd-server)`);
  const dataDir = await mkdtemp(join(tmpdir(), 'lease-store-etcd-'));
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const url = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    etcdBinary,
    [
      '--name',
      't',
      '--data-dir',
      join(dataDir, 'data'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `t=${peerUrl}`,
      // Fast elections, which also bring etcd's minimum lease TTL down to 1 s (the default is 2 s).
      '--heartbeat-interval',
      '10',
      '--election-timeout',
      '100',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: goArch[process.arch] ?? process.arch } },
  );
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = once(child, 'exit');

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const healthy = await fetch(`${url}/health`)
      .then((response) => response.json() as Promise<{ health?: string }>)
      .catch(() => undefined);
    if (healthy?.health === 'true') return { url, stop };
    await sleep(20);
  }
  await stop();
  throw new Error(`etcd did not become healthy at ${url} within 10 s; its log ends with:\n${log}`);
}

let clusters = 0;

async function storesOnNewEtcd(): Promise<LeaseStoreFixture> {
  const etcd = await startEtcd();
  const cluster = `contract-${++clusters}`;
  const storeAt = (url: string, timeoutMs: number) => new EtcdLeaseStore({ hosts: [url], cluster, requestTimeoutMs: timeoutMs });
  const store = storeAt(etcd.url, requestTimeoutMs);
  const other = storeAt(etcd.url, requestTimeoutMs);
  return {
    store,
    other,
    requestTimeoutMs,
    storeAt,
    stopBackend: () => etcd.stop(),
    cleanup: async () => {
      await store.close();
      await other.close();
      await etcd.stop();
    },
  };
}

leaseStoreContract('etcd', storesOnNewEtcd);

describe('EtcdLeaseStore: server-side expiry', () => {
  it('deletes a lease that is not renewed within its TTL; another store then takes it with term + 1', async () => {
    const { store, other, cleanup } = await storesOnNewEtcd();
    try {
      const ttlMs = 1000;
      // Taken before the request: etcd starts the TTL when it grants the lease, later than this.
      const requested = performance.now();
      const acquired = await store.acquire('a', ttlMs, null, false, reason);
      assert.ok(acquired.ok);
      // A deadline of this test, not a performance assertion: etcd checks expiry twice a second, so
      // it deletes the key up to ~0.5 s late; the limit only keeps a lease that never expires from
      // hanging the test.
      const deadlineMs = 15_000;
      while ((await other.read()) !== null) {
        assert.ok(performance.now() - requested < deadlineMs, `the lease was still there ${deadlineMs} ms after its ${ttlMs} ms TTL`);
        await sleep(100);
      }
      // Never early, though: that is the safety of a lease (no second holder while the first may
      // still act as primary). A slow machine can only make this longer.
      const goneAfterMs = performance.now() - requested;
      assert.ok(goneAfterMs >= ttlMs, `the lease disappeared ${Math.round(goneAfterMs)} ms after it was requested, before its ${ttlMs} ms TTL`);
      const renewal = await store.renew(acquired.record, acquired.record.ttlMs);
      assert.deepEqual(renewal, { ok: false, current: null });
      const taken = await other.acquire('b', 1000, null, false, reason);
      assert.ok(taken.ok);
      assert.equal(taken.record.term, acquired.record.term + 1);
      assert.deepEqual(await store.read(), taken.record);
      // The history has no etcd lease: it outlives the leader key, and says whose expired lease b took.
      const changes = (await store.history()).map(({ term, holder, from }) => ({ term, holder, from }));
      assert.deepEqual(changes, [
        { term: 1, holder: 'a', from: null },
        { term: 2, holder: 'b', from: 'a' },
      ]);
    } finally {
      await cleanup();
    }
  });

  it('keeps a lease that is renewed well within its TTL', async () => {
    const { store, other, cleanup } = await storesOnNewEtcd();
    try {
      const acquired = await store.acquire('a', 1000, null, false, reason);
      assert.ok(acquired.ok);
      let record = acquired.record;
      for (let renewal = 0; renewal < 8; renewal++) {
        await sleep(300);
        const renewed = await store.renew(record, record.ttlMs);
        assert.ok(renewed.ok, `renewal ${renewal + 1} (${Math.round(300 * (renewal + 1))} ms after acquiring) was refused`);
        record = renewed.record;
      }
      assert.deepEqual(await other.read(), record);
      assert.equal(record.term, 1);
    } finally {
      await cleanup();
    }
  });

  it('names the key and the hosts in its description', async () => {
    const store = new EtcdLeaseStore({ hosts: ['http://etcd-0:2379', 'http://etcd-1:2379'], cluster: 'shop' });
    assert.equal(store.description, 'etcd http://etcd-0:2379,http://etcd-1:2379 key /mysql-ha/shop/leader');
    await store.close();
  });
});
