import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp, SwitchoverRefused } from '../../agent/http/app.ts';
import { AgentMetrics } from '../../agent/http/metrics.ts';
import type { AgentSnapshot } from '../../agent/loop/snapshot.ts';
import type { Observation, Topology } from '../../agent/loop/state.ts';
import { asPrimary, asReplica, heldBy, NOW, observed, observedAsPrimary, PRIMARY, REPLICA, streaming, UUID0, up, variables } from '../support/observations.ts';

const TOKEN = 'test-switchover-token';

function snapshotOf(topology: Topology, observation: Observation | null, heartbeatAt = NOW - 500): AgentSnapshot {
  return {
    config: {
      pod: { name: topology.self.name, statefulSet: 'mysql-ha', ordinal: Number(topology.self.name.at(-1)) },
      maxLagSeconds: 10,
      livenessTimeoutMs: 30_000,
      lossless: true,
      switchoverToken: TOKEN,
    },
    topology,
    server: { flavor: 'mysql', version: '9.7.4-2', major: 9, minor: 7, patch: 4 },
    observation,
    decision: { state: 'replica-streaming', action: { kind: 'none' }, reason: 'following mysql-ha-0: IO and SQL threads running, lag 3 s' },
    actionError: null,
    heartbeatAt,
    paused: false,
    handingOver: false,
  };
}

const writablePrimary = snapshotOf(asPrimary, observedAsPrimary(up({ variables: variables({ readOnly: false, serverUuid: UUID0, semiSyncSource: true }) })));
const lagging = snapshotOf(asReplica, observed(up({ replica: streaming({ lagSeconds: 30 }) })));
const brokenReplica = snapshotOf(asReplica, observed(up({ replica: streaming({ sqlRunning: false, lastSqlError: "Duplicate entry '7'" }) })));
const mysqldDown = snapshotOf(asReplica, observed({ up: false, error: 'connect ECONNREFUSED' }));

async function get(snapshot: AgentSnapshot, url: string) {
  const app = buildApp({ snapshot, metrics: new AgentMetrics(), now: () => NOW });
  const response = await app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.headers['content-type']?.toString().includes('json') ? response.json() : response.body };
}

const table: Array<[string, AgentSnapshot, string, number, RegExp?]> = [
  ['primary /health', writablePrimary, '/health', 200],
  ['primary /primary', writablePrimary, '/primary', 200],
  ['primary /read-only', writablePrimary, '/read-only', 200],
  ['primary /replica', writablePrimary, '/replica', 503, /this node is the primary/],
  ['read-only primary is not /primary yet', snapshotOf(asPrimary, observedAsPrimary(up())), '/primary', 503, /still read-only/],
  [
    'primary without semi-sync in lossless mode is not /primary yet',
    snapshotOf(asPrimary, observedAsPrimary(up({ variables: variables({ readOnly: false }) }))),
    '/primary',
    503,
    /semi-sync off/,
  ],
  [
    '/primary turns 503 the moment the lease runs out',
    snapshotOf(asPrimary, observedAsPrimary(up({ variables: variables({ readOnly: false, semiSyncSource: true }) }), { heldUntil: NOW })),
    '/primary',
    503,
    /does not hold the lease/,
  ],
  [
    'writable node without the lease is not /primary',
    snapshotOf(asPrimary, observed(up({ variables: variables({ readOnly: false, semiSyncSource: true }) }), { lease: heldBy(REPLICA.name, PRIMARY.name) })),
    '/primary',
    503,
    /mysql-ha-1 holds the lease/,
  ],
  ['lagging replica /health (max 10 s)', lagging, '/health', 503, /lag 30 s exceeds 10 s/],
  ['lagging replica /replica?lag=60', lagging, '/replica?lag=60', 200],
  ['lagging replica /read-only?lag=5', lagging, '/read-only?lag=5', 503, /exceeds 5 s/],
  ['lagging replica /read-only?lag=30', lagging, '/read-only?lag=30', 200],
  ['replica /primary', lagging, '/primary', 503, /not the primary \(mysql-ha-0 holds the lease\)/],
  ['broken replica /health', brokenReplica, '/health', 503, /SQL thread not running: Duplicate entry/],
  ['broken replica /readiness', brokenReplica, '/readiness', 503],
  ['mysqld down /health', mysqldDown, '/health', 503, /mysqld unreachable/],
  ['mysqld down is still alive', mysqldDown, '/liveness', 200],
  ['stalled loop fails liveness', snapshotOf(asReplica, null, NOW - 31_000), '/liveness', 503, /31000 ms ago/],
  ['no observation yet', snapshotOf(asReplica, null), '/health', 503, /no observation yet/],
];

for (const [name, snapshot, url, status, reason] of table) {
  test(`GET ${url}: ${name} → ${status}`, async () => {
    const answer = await get(snapshot, url);
    assert.equal(answer.status, status);
    if (reason) assert.match(answer.body.reason, reason);
  });
}

test('GET /binlog-position: a ready primary gives file, position, GTIDs (executed and purged) and UUID', async () => {
  const answer = await get(writablePrimary, '/binlog-position');
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { file: 'mysql-bin.000001', position: 157, gtidExecuted: `${UUID0}:1-10`, gtidPurged: '', serverUuid: UUID0 });
});

test('GET /binlog-position: 503 with the reason anywhere else', async () => {
  const answer = await get(lagging, '/binlog-position');
  assert.equal(answer.status, 503);
  assert.equal(answer.body.ready, false);
  assert.match(answer.body.reason, /not the primary/);
});

test('GET /status: the documented shape', async () => {
  const answer = await get(brokenReplica, '/status');
  assert.equal(answer.status, 200);
  assert.deepEqual(Object.keys(answer.body).slice(0, 12), [
    'pod',
    'ordinal',
    'role',
    'healthy',
    'reason',
    'readOnly',
    'flavor',
    'version',
    'serverId',
    'gtidExecuted',
    'replication',
    'leader',
  ]);
  assert.equal(answer.body.role, 'replica');
  assert.equal(answer.body.healthy, false);
  assert.deepEqual(answer.body.replication, {
    source: 'mysql-ha-0',
    ioRunning: true,
    sqlRunning: false,
    lagSeconds: 0,
    lastError: "Duplicate entry '7'",
    retrievedGtids: `${UUID0}:1-10`,
  });
  assert.deepEqual(answer.body.lease, { state: 'held', holder: 'mysql-ha-0', term: 1, mine: false });
  assert.equal(answer.body.decision.reason, 'following mysql-ha-0: IO and SQL threads running, lag 3 s');
});

test('GET /status: role unknown while mysqld is down; MariaDB bypass accounts are a warning', async () => {
  assert.equal((await get(mysqldDown, '/status')).body.role, 'unknown');
  const bypass = snapshotOf(asReplica, observed(up({ readOnlyBypass: ["'root'@'localhost'"], replica: streaming() })));
  const answer = await get(bypass, '/status');
  assert.match(answer.body.warnings[0], /READ_ONLY ADMIN .* 'root'@'localhost'/);
});

test('GET /metrics: Prometheus text', async () => {
  const snapshot = lagging;
  const metrics = new AgentMetrics();
  metrics.record(snapshot.observation!, 'replica', { ok: false, reason: 'lag' }, 0.004);
  const app = buildApp({ snapshot, metrics, now: () => NOW });
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(response.headers['content-type'] as string, /text\/plain/);
  assert.match(response.body, /mysql_ha_role\{role="replica"\} 1/);
  assert.match(response.body, /mysql_ha_replication_lag_seconds 30/);
  assert.match(response.body, /mysql_ha_healthy 0/);
  assert.match(response.body, /mysql_ha_loop_duration_seconds_count 1/);
});

test('unknown route → 404', async () => {
  assert.equal((await get(writablePrimary, '/nope')).status, 404);
});

for (const bad of ['/replica?lag=abc', '/replica?lag=-1', '/read-only?lag=1.5', '/replica?lag=5&x=1']) {
  test(`bad query ${bad} → 400`, async () => {
    const answer = await get(lagging, bad);
    assert.equal(answer.status, 400);
    assert.match(answer.body.message, /querystring/);
  });
}

async function post(
  snapshot: AgentSnapshot,
  url: string,
  options: { token?: string; body?: unknown; switchover?: Parameters<typeof buildApp>[0]['switchover'] } = {},
) {
  const app = buildApp({ snapshot, metrics: new AgentMetrics(), now: () => NOW, switchover: options.switchover });
  const response = await app.inject({
    method: 'POST',
    url,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    ...(options.body === undefined ? {} : { payload: options.body as object }),
  });
  return { status: response.statusCode, body: response.json() };
}

test('POST /switchover: 401 without the bearer token, or with a wrong one', async () => {
  assert.equal((await post(writablePrimary, '/switchover')).status, 401);
  const wrong = await post(writablePrimary, '/switchover', { token: 'nope' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.reason, /missing or wrong bearer token/);
});

test('POST /switchover: 401 when no token is configured (control endpoints disabled)', async () => {
  const snapshot = { ...writablePrimary, config: { ...writablePrimary.config, switchoverToken: null } };
  assert.match((await post(snapshot, '/switchover', { token: TOKEN })).body.reason, /disabled: set MYSQL_HA_SWITCHOVER_TOKEN/);
});

test('POST /switchover: 400 for a bad body', async () => {
  for (const body of [{ candidate: 'Bad Name' }, { candidate: 'mysql-ha-1', force: true }, { candidate: '' }, ['mysql-ha-1']]) {
    assert.equal((await post(writablePrimary, '/switchover', { token: TOKEN, body })).status, 400, JSON.stringify(body));
  }
});

test('POST /switchover: 409 with the reason when it cannot proceed, 200 with the outcome when done', async () => {
  const refused = await post(writablePrimary, '/switchover', {
    token: TOKEN,
    body: { candidate: 'mysql-ha-2' },
    switchover: async (candidate) => {
      throw new SwitchoverRefused(`${candidate} cannot take over: its mysqld is down`);
    },
  });
  assert.equal(refused.status, 409);
  assert.match(refused.body.reason, /mysql-ha-2 cannot take over: its mysqld is down/);
  const done = await post(writablePrimary, '/switchover', {
    token: TOKEN,
    body: {},
    switchover: async (candidate) => ({ from: 'mysql-ha-0', to: candidate ?? 'mysql-ha-1', handoverMs: 420 }),
  });
  assert.equal(done.status, 200);
  assert.deepEqual(done.body, { ok: true, from: 'mysql-ha-0', to: 'mysql-ha-1', handoverMs: 420 });
});

test('POST /pause and /resume switch automatic failover on this agent, behind the token', async () => {
  const snapshot = snapshotOf(asReplica, observed(up({ replica: streaming() })));
  assert.equal((await post(snapshot, '/pause')).status, 401);
  assert.equal((await post(snapshot, '/pause', { token: TOKEN })).status, 200);
  assert.equal(snapshot.paused, true);
  assert.equal((await get(snapshot, '/status')).body.paused, true);
  await post(snapshot, '/resume', { token: TOKEN });
  assert.equal(snapshot.paused, false);
});
