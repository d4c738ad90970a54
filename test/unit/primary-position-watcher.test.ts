// The replica's side of bootstrap: polling the primary's real /binlog-position (the agent's own
// HTTP app on loopback) until it is ready, with every failed attempt visible as data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentClient } from '../../agent/http/agent-client.ts';
import { buildApp } from '../../agent/http/app.ts';
import { AgentMetrics } from '../../agent/http/metrics.ts';
import { PrimaryPositionWatcher } from '../../agent/http/primary-position-watcher.ts';
import { ControlInbox } from '../../agent/loop/controls.ts';
import { SnapshotBoard } from '../../agent/loop/snapshot.ts';
import type { PrimaryPositionProbe } from '../../agent/loop/state.ts';
import { captureLogger } from '../support/capture-logger.ts';
import { freePort } from '../support/free-port.ts';
import { asPrimary, NOW, observedAsPrimary, PRIMARY, UUID0, up, variables } from '../support/observations.ts';

const settings = {
  pod: { name: PRIMARY.name, statefulSet: 'mysql-ha', ordinal: 0 },
  maxLagSeconds: 10,
  livenessTimeoutMs: 30_000,
  lossless: true,
  switchoverToken: null,
  tls: { files: null, requireSecureTransport: false },
};
const ADDRESS = '127.0.14.1';

async function until(probe: () => PrimaryPositionProbe, wanted: (probe: PrimaryPositionProbe) => boolean): Promise<PrimaryPositionProbe> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    if (wanted(probe())) return probe();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`the watcher never got there; last probe: ${JSON.stringify(probe())}`);
}

test("primary position: waits (with the primary's reason) while it sets up, then delivers its position and wakes the loop", async () => {
  const port = await freePort();
  const board = new SnapshotBoard({
    config: settings,
    topology: asPrimary,
    server: null,
    waitingFor: null,
    observation: observedAsPrimary(up({ variables: variables({ serverUuid: UUID0 }) })),
    decision: null,
    actionError: null,
    lastSwitchover: null,
    heartbeatAt: NOW,
    runningAction: null,
    writesStoppedBy: null,
  });
  const app = buildApp({
    board,
    controls: new ControlInbox(false),
    metrics: new AgentMetrics(),
    now: () => NOW,
    failsafePromiseMs: 5000,
    leaseHistory: async () => [],
  });
  await app.listen({ host: ADDRESS, port });
  const { logger, lines } = captureLogger();
  let woken = 0;
  const watcher = new PrimaryPositionWatcher({
    client: new AgentClient(null),
    agentPort: port,
    log: logger,
    minBackoffMs: 10,
    maxBackoffMs: 50,
    onReady: () => woken++,
  });
  try {
    const primary = { name: PRIMARY.name, host: ADDRESS };
    const waiting = await until(
      () => watcher.probe(primary),
      (probe) => probe.state === 'waiting' && probe.attempts >= 2,
    );
    assert.match(waiting.state === 'waiting' ? waiting.lastError : '', /answered 503: primary is still read-only/);
    assert.ok(
      lines.some((line) => line.msg === 'primary not ready yet'),
      'each failed attempt is logged',
    );
    board.publish({ observation: observedAsPrimary(up({ variables: variables({ serverUuid: UUID0, readOnly: false, semiSyncSource: true }) })) });
    const ready = await until(
      () => watcher.probe(primary),
      (probe) => probe.state === 'ready',
    );
    assert.deepEqual(ready.state === 'ready' && ready.position, {
      file: 'mysql-bin.000001',
      position: 157,
      gtidExecuted: `${UUID0}:1-10`,
      gtidPurged: '',
      serverUuid: UUID0,
    });
    assert.equal(woken, 1);
  } finally {
    watcher.reset();
    await app.close();
  }
});

test('primary position: an agent that does not answer is an attempt that failed, named by its address', async () => {
  const port = await freePort();
  const { logger } = captureLogger();
  const watcher = new PrimaryPositionWatcher({ client: new AgentClient(null), agentPort: port, log: logger, minBackoffMs: 10, maxBackoffMs: 50 });
  try {
    const waiting = await until(
      () => watcher.probe({ name: PRIMARY.name, host: ADDRESS }),
      (probe) => probe.state === 'waiting' && probe.attempts >= 1,
    );
    assert.match(waiting.state === 'waiting' ? waiting.lastError : '', new RegExp(`http://${ADDRESS}:${port}/binlog-position unreachable: .*ECONNREFUSED`));
  } finally {
    watcher.reset();
  }
});

test('primary position: pollNow asks a primary that was not ready again at once, instead of at the end of its backoff', async () => {
  const port = await freePort();
  let asked = 0;
  const { createServer } = await import('node:http');
  const server = createServer((_request, response) => {
    asked++;
    response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: false, reason: 'still read-only' }));
  });
  await new Promise<void>((resolve) => server.listen(port, ADDRESS, resolve));
  const { logger } = captureLogger();
  // A backoff far longer than the test: only pollNow can make a second attempt happen.
  const watcher = new PrimaryPositionWatcher({ client: new AgentClient(null), agentPort: port, log: logger, minBackoffMs: 60_000, maxBackoffMs: 60_000 });
  try {
    const primary = { name: PRIMARY.name, host: ADDRESS };
    await until(
      () => watcher.probe(primary),
      (probe) => probe.state === 'waiting' && probe.attempts === 1,
    );
    assert.equal(asked, 1);
    watcher.pollNow();
    await until(
      () => watcher.probe(primary),
      () => asked === 2,
    );
    watcher.reset();
    watcher.pollNow();
    assert.equal(asked, 2, 'nothing is polled once the watch was reset');
  } finally {
    watcher.reset();
    await new Promise((resolve) => server.close(resolve));
  }
});
