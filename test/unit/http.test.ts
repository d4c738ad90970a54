import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LeaseHistoryEntry } from '../../agent/coordination/lease.ts';
import { rootMessageOf } from '../../agent/errors.ts';
import { AgentClient } from '../../agent/http/agent-client.ts';
import { buildApp } from '../../agent/http/app.ts';
import { AgentMetrics } from '../../agent/http/metrics.ts';
import { WITHHELD } from '../../agent/http/status.ts';
import { fetchStatus } from '../../agent/http/status-client.ts';
import { ControlInbox } from '../../agent/loop/controls.ts';
import { type AgentSnapshot, SnapshotBoard } from '../../agent/loop/snapshot.ts';
import { DEFAULT_TAGS, type Observation, type Topology } from '../../agent/loop/state.ts';
import { issueCertificate } from '../../agent/sandbox/certificates.ts';
import { freePort } from '../support/free-port.ts';
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
      tls: { files: null, requireSecureTransport: false },
    },
    topology,
    server: { flavor: 'mysql', version: '9.7.4-2', major: 9, minor: 7, patch: 4 },
    waitingFor: observation === null ? 'mysqld unreachable: connect ECONNREFUSED 127.0.10.2:3306' : null,
    observation,
    decision: observation && { state: 'replica-streaming', action: { kind: 'none' }, reason: 'following mysql-ha-0: IO and SQL threads running, lag 3 s' },
    actionError: null,
    lastSwitchover: null,
    heartbeatAt,
    runningAction: null,
    writesStoppedBy: null,
  };
}

const writablePrimary = snapshotOf(asPrimary, observedAsPrimary(up({ variables: variables({ readOnly: false, serverUuid: UUID0, semiSyncSource: true }) })));
const lagging = snapshotOf(asReplica, observed(up({ replica: streaming({ lagSeconds: 30 }) })));
const brokenReplica = snapshotOf(asReplica, observed(up({ replica: streaming({ sqlRunning: false, lastSqlError: "Duplicate entry '7'" }) })));
/** Streaming fine, but with a transaction the primary never had (found by the last decision). */
const errantReplica: AgentSnapshot = {
  ...snapshotOf(asReplica, observed(up({ replica: streaming() }))),
  decision: { state: 'replica-errant', action: { kind: 'none' }, reason: 'following mysql-ha-0, but this node has transactions the primary never had' },
};
/** A healthy replica tagged noloadbalance (a reporting or backup replica). */
const unbalanced = snapshotOf({ ...asReplica, tags: { ...DEFAULT_TAGS, noloadbalance: true } }, observed(up({ replica: streaming() })));
const mysqldDown = snapshotOf(asReplica, observed({ up: false, error: 'connect ECONNREFUSED' }));

/** The lease store's history in these tests. */
const HISTORY: LeaseHistoryEntry[] = [
  {
    term: 1,
    holder: PRIMARY.name,
    from: null,
    at: NOW - 60_000,
    how: 'election',
    reason: 'new cluster: mysql-ha-0, the bootstrap primary, takes the first lease',
  },
  {
    term: 2,
    holder: REPLICA.name,
    from: PRIMARY.name,
    at: NOW - 1000,
    how: 'election',
    reason: 'the lease is free (mysql-ha-0 gave it up): mysql-ha-1 is the most advanced candidate',
  },
];

const appFor = (snapshot: AgentSnapshot, controls = new ControlInbox(false), metrics = new AgentMetrics(), leaseHistory = async () => HISTORY) =>
  buildApp({ board: new SnapshotBoard(snapshot), controls, metrics, now: () => NOW, failsafePromiseMs: 5000, leaseHistory });

async function get(snapshot: AgentSnapshot, url: string, controls?: ControlInbox, token?: string) {
  const app = appFor(snapshot, controls);
  const response = await app.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.statusCode, body: response.headers['content-type']?.toString().includes('json') ? response.json() : response.body };
}

const table: Array<[string, AgentSnapshot, string, number, RegExp]> = [
  ['primary /health', writablePrimary, '/health', 200, /^writable primary$/],
  ['primary /primary', writablePrimary, '/primary', 200, /^writable primary$/],
  ['primary /read-only', writablePrimary, '/read-only', 200, /^writable primary$/],
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
  ...(['hand-over', 'step-down', 'fence', 'release-lease'] as const).map((kind): [string, AgentSnapshot, string, number, RegExp] => [
    `a writable primary whose ${kind} has started (its last observation still writable) is not /primary (HAProxy moves writes away now)`,
    { ...writablePrimary, runningAction: { kind, since: NOW - 100 }, writesStoppedBy: kind },
    '/primary',
    503,
    new RegExp(`writes stopping here: ${kind} started`),
  ]),
  [
    'a hand-over done, the next observation not yet taken: still not /primary',
    { ...writablePrimary, writesStoppedBy: 'hand-over' },
    '/primary',
    503,
    /writes stopping here: hand-over started/,
  ],
  [
    'a writable primary running an action that keeps its writes (setup-primary) is still /primary',
    { ...writablePrimary, runningAction: { kind: 'setup-primary', since: NOW - 100 } },
    '/primary',
    200,
    /^writable primary$/,
  ],
  ['lagging replica /health (max 10 s)', lagging, '/health', 503, /lag 30 s exceeds 10 s/],
  ['lagging replica /replica?lag=60', lagging, '/replica?lag=60', 200, /replica streaming, lag 30 s/],
  ['lagging replica /read-only?lag=5', lagging, '/read-only?lag=5', 503, /exceeds 5 s/],
  ['lagging replica /read-only?lag=30', lagging, '/read-only?lag=30', 200, /replica streaming, lag 30 s/],
  ['lag with a unit: /replica?lag=1m', lagging, '/replica?lag=1m', 200, /replica streaming, lag 30 s/],
  ['lag with a unit: /replica?lag=30s', lagging, '/replica?lag=30s', 200, /replica streaming, lag 30 s/],
  ['lag with a unit: /read-only?lag=500ms', lagging, '/read-only?lag=500ms', 503, /lag 30 s exceeds 0.5 s/],
  ['lag in seconds with a fraction: /read-only?lag=29.5', lagging, '/read-only?lag=29.5', 503, /lag 30 s exceeds 29.5 s/],
  ["Patroni's name /leader on the primary", writablePrimary, '/leader', 200, /^writable primary$/],
  ["Patroni's name /read-write on the primary", writablePrimary, '/read-write', 200, /^writable primary$/],
  ["Patroni's name /leader on a replica", lagging, '/leader', 503, /not the primary/],
  ["Patroni's name /read-write on a replica", lagging, '/read-write', 503, /not the primary/],
  ['replica /primary', lagging, '/primary', 503, /not the primary \(mysql-ha-0 holds the lease\)/],
  ['errant replica /health, though streaming', errantReplica, '/health', 503, /^errant transactions: this node has transactions its primary never had/],
  ['errant replica /replica', errantReplica, '/replica?lag=60', 503, /^errant transactions/],
  ['errant replica /read-only: no reads through HAProxy', errantReplica, '/read-only?lag=60', 503, /^errant transactions/],
  ['noloadbalance replica is healthy', unbalanced, '/health', 200, /^replica streaming, lag 0 s$/],
  ['noloadbalance replica gets no reads: /replica', unbalanced, '/replica', 503, /^replica streaming, lag 0 s; tagged noloadbalance: no reads routed here$/],
  ['noloadbalance replica gets no reads: /read-only', unbalanced, '/read-only', 503, /tagged noloadbalance/],
  ['broken replica /health', brokenReplica, '/health', 503, /SQL thread not running: Duplicate entry/],
  ['broken replica /readiness', brokenReplica, '/readiness', 503, /SQL thread not running: Duplicate entry/],
  ['mysqld down /health', mysqldDown, '/health', 503, /mysqld unreachable/],
  ['mysqld down is still alive', mysqldDown, '/liveness', 200, /last loop progress 500 ms ago \(limit 30000 ms\)/],
  ['stalled loop fails liveness', snapshotOf(asReplica, null, NOW - 31_000), '/liveness', 503, /31000 ms ago/],
  [
    'a clone running longer than the liveness limit is progress',
    { ...snapshotOf(asReplica, null, NOW - 600_000), runningAction: { kind: 'rebuild', since: NOW - 600_000 } },
    '/liveness',
    200,
    /action rebuild under way for 600000 ms/,
  ],
  ['mysqld not reached yet at start-up: /health says why', snapshotOf(asReplica, null), '/health', 503, /mysqld unreachable: connect ECONNREFUSED/],
];

for (const [name, snapshot, url, status, reason] of table) {
  test(`GET ${url}: ${name} → ${status}`, async () => {
    const answer = await get(snapshot, url);
    assert.equal(answer.status, status);
    assert.match(answer.body.reason, reason);
  });
}

test("every check answers GET, HEAD and OPTIONS alike (Patroni's haproxy.cfg checks with OPTIONS /primary)", async () => {
  const checks = ['/health', '/readiness', '/liveness', '/primary', '/leader', '/read-write', '/replica', '/read-only?lag=60'];
  for (const snapshot of [writablePrimary, lagging]) {
    const app = appFor(snapshot);
    for (const url of checks) {
      const byGet = await app.inject({ method: 'GET', url });
      for (const method of ['HEAD', 'OPTIONS'] as const) {
        const response = await app.inject({ method, url });
        assert.equal(response.statusCode, byGet.statusCode, `${method} ${url} on the ${snapshot === lagging ? 'replica' : 'primary'}`);
      }
    }
  }
});

test('a terminating pod fails every traffic check at once, so HAProxy and the Services drain it before mysqld stops; liveness stays green', async () => {
  // A replica's checks answer 404, which HAProxy (http-check disable-on-404) turns into a drain: running reads finish.
  for (const [snapshot, url, status] of [
    [writablePrimary, '/primary', 503],
    [writablePrimary, '/read-only', 503],
    [writablePrimary, '/health', 503],
    [writablePrimary, '/readiness', 503],
    [lagging, '/replica?lag=60', 404],
    [lagging, '/read-only?lag=60', 404],
  ] as const) {
    const controls = new ControlInbox(false);
    assert.equal((await get(snapshot, url, controls)).status, 200, `${url} before`);
    void controls.terminate(NOW);
    const answer = await get(snapshot, url, controls);
    assert.equal(answer.status, status, url);
    assert.match(answer.body.reason, /pod terminating: draining connections before mysqld stops/);
    assert.equal((await get(snapshot, '/liveness', controls)).status, 200);
  }
});

test('a replica restarting its mysqld (asked for) drains: its read checks answer 404 from the moment it is decided; liveness stays green', async () => {
  const streamingReplica = snapshotOf(asReplica, observed(up({ replica: streaming() })));
  const restarting: AgentSnapshot = {
    ...streamingReplica,
    decision: { state: 'replica-restarting', action: { kind: 'restart-mysqld' }, reason: 'restart requested' },
    runningAction: { kind: 'restart-mysqld', since: NOW - 100 },
  };
  for (const url of ['/replica?lag=60', '/read-only?lag=60', '/health']) {
    assert.equal((await get(streamingReplica, url)).status, 200, `${url} before`);
    const answer = await get(restarting, url);
    assert.equal(answer.status, 404, url);
    assert.match(answer.body.reason, /mysqld restarting \(asked for\): draining reads first/);
  }
  assert.equal((await get(restarting, '/liveness')).status, 200);
});

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
  const answer = await get(brokenReplica, '/status', undefined, TOKEN);
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
  const answer = await get(bypass, '/status', undefined, TOKEN);
  assert.match(answer.body.warnings[0], /READ_ONLY ADMIN .* 'root'@'localhost'/);
});

test('GET /status without the token (or with a wrong one): the same document, every free text withheld', async () => {
  const full = (await get(brokenReplica, '/status', undefined, TOKEN)).body;
  assert.equal(full.redacted, false);
  for (const token of [undefined, 'a guess']) {
    const answer = await get(brokenReplica, '/status', undefined, token);
    assert.equal(answer.status, 200);
    const status = answer.body;
    assert.equal(status.redacted, true);
    // Texts name accounts, hosts, files and statements: withheld, and nothing of them left.
    for (const text of [status.reason, status.decision.reason, status.replication.lastError, ...status.warnings]) assert.equal(text, WITHHELD);
    assert.doesNotMatch(JSON.stringify(status), /Duplicate entry|following mysql-ha-0:/);
    // What peers' elections, dashboards and scripts read is all there.
    const kept = ({ reason, decision, replication, warnings, redacted, ...rest }: typeof full) => rest;
    assert.deepEqual(kept(status), kept(full));
    assert.deepEqual({ ...status.replication, lastError: null }, { ...full.replication, lastError: null });
    assert.equal(status.decision.state, full.decision.state);
    assert.equal(status.warnings.length, full.warnings.length);
  }
  // With no token configured at all nobody reads the texts over HTTP (the log has them).
  const tokenless = { ...brokenReplica, config: { ...brokenReplica.config, switchoverToken: null } };
  assert.equal((await get(tokenless, '/status', undefined, TOKEN)).body.redacted, true);
});

test('GET /metrics: Prometheus text', async () => {
  const snapshot = lagging;
  const metrics = new AgentMetrics();
  metrics.record(snapshot.observation!, 'replica', { ok: false, reason: 'lag' }, 0.004, REPLICA.name);
  const response = await appFor(snapshot, undefined, metrics).inject({ method: 'GET', url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(response.headers['content-type'] as string, /text\/plain/);
  assert.match(response.body, /mysql_ha_role\{role="replica"\} 1/);
  assert.match(response.body, /mysql_ha_replication_lag_seconds 30/);
  assert.match(response.body, /mysql_ha_healthy 0/);
  assert.match(response.body, /mysql_ha_loop_duration_seconds_count 1/);
  assert.match(response.body, /mysql_ha_failovers_total 0/);
  assert.match(response.body, /mysql_ha_seconds_since_last_failover nan$/im);
  assert.match(response.body, /^mysql_ha_semi_sync_waiting_sessions 0$/m);
  // Node's own: how long the event loop kept requests waiting, memory and CPU.
  for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds', 'process_resident_memory_bytes', 'process_cpu_seconds_total'])
    assert.match(response.body, new RegExp(`^${name} [\\d.e-]+$`, 'm'), name);
});

test('GET /metrics: the lease changes this node took, counted once each by how it got the lease; the term; the time since the last failover', async () => {
  const metrics = new AgentMetrics();
  const scrape = async () => (await appFor(lagging, undefined, metrics).inject({ method: 'GET', url: '/metrics' })).body;
  const took = (how: 'failover' | 'hand-over', at: number) => ({ holder: REPLICA.name, at, how });
  const changes = [
    { holder: PRIMARY.name, at: NOW - 60_000, how: 'first-seen' as const },
    took('failover', NOW - 30_000),
    { holder: PRIMARY.name, at: NOW - 20_000, how: 'hand-over' as const },
    took('hand-over', NOW - 10_000),
  ];
  const observation = { ...lagging.observation!, leaseChanges: changes };
  for (let tick = 0; tick < 3; tick++) metrics.record(observation, 'primary', { ok: true, reason: 'writable primary' }, 0.004, REPLICA.name);
  const body = await scrape();
  assert.match(body, /mysql_ha_failovers_total 1$/m, 'counted once, not at every tick');
  assert.match(body, /mysql_ha_switchovers_total 1$/m);
  assert.match(body, /mysql_ha_seconds_since_last_failover 30$/m);
  assert.match(body, new RegExp(`mysql_ha_lease_term ${(lagging.observation!.lease as { record: { term: number } }).record.term}$`, 'm'));
  metrics.record({ ...observation, leaseChanges: [...changes, took('failover', NOW - 1000)] }, 'primary', { ok: true, reason: '' }, 0.004, REPLICA.name);
  assert.match(await scrape(), /mysql_ha_failovers_total 2$/m);
});

test('unknown route → 404', async () => {
  assert.equal((await get(writablePrimary, '/nope')).status, 404);
});

for (const bad of ['/replica?lag=abc', '/replica?lag=-1', '/read-only?lag=1.5.2', '/read-only?lag=5h', '/read-only?lag=s', '/replica?lag=5&x=1']) {
  test(`bad query ${bad} → 400`, async () => {
    const answer = await get(lagging, bad);
    assert.equal(answer.status, 400);
    assert.match(answer.body.message, /querystring/);
  });
}

async function post(snapshot: AgentSnapshot, url: string, options: { token?: string; body?: unknown; controls?: ControlInbox } = {}) {
  const response = await appFor(snapshot, options.controls).inject({
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

test('POST /switchover: 409 while the agent still waits for its mysqld', async () => {
  const answer = await post(snapshotOf(asPrimary, null), '/switchover', { token: TOKEN, body: {} });
  assert.equal(answer.status, 409);
  assert.match(answer.body.reason, /still waiting for its mysqld/);
});

/** Plays the loop's part: reads the request a tick would read, and answers it. */
async function loopAnswers(controls: ControlInbox, answer: (request: { candidate: string | null }) => Parameters<ControlInbox['answer']>[1]) {
  for (;;) {
    const request = controls.read().switchover;
    if (request) return controls.answer(request, answer(request));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('POST /switchover: the request goes to the loop as its input; 409 with the refusal, 200 with the hand-over', async () => {
  const controls = new ControlInbox(false);
  const seen: Array<string | null> = [];
  const refusing = loopAnswers(controls, (request) => {
    seen.push(request.candidate);
    return { ok: false, reason: `${request.candidate} cannot take over: its mysqld is down` };
  });
  const refused = await post(writablePrimary, '/switchover', { token: TOKEN, body: { candidate: 'mysql-ha-2' }, controls });
  await refusing;
  assert.equal(refused.status, 409);
  assert.match(refused.body.reason, /mysql-ha-2 cannot take over: its mysqld is down/);
  const handing = loopAnswers(controls, (request) => {
    seen.push(request.candidate);
    return { ok: true, from: 'mysql-ha-0', to: 'mysql-ha-1', handoverMs: 420 };
  });
  const done = await post(writablePrimary, '/switchover', { token: TOKEN, body: {}, controls });
  await handing;
  assert.equal(done.status, 200);
  assert.equal(done.body.ok, true);
  assert.deepEqual(seen, ['mysql-ha-2', null], 'the loop read the requested candidate, then "any"');
  assert.equal(controls.read().switchover, null, 'an answered request is gone');
});

test('POST /switchover: a second request while one is pending is refused at once', async () => {
  const controls = new ControlInbox(false);
  const first = controls.requestSwitchover('mysql-ha-1');
  const second = await post(writablePrimary, '/switchover', { token: TOKEN, body: {}, controls });
  assert.equal(second.status, 409);
  assert.match(second.body.reason, /a switchover \(to mysql-ha-1\) is already in progress/);
  controls.close();
  assert.deepEqual(await first, { ok: false, reason: 'the agent is stopping' });
});

test('POST /pause and /resume switch automatic failover on this agent, behind the token', async () => {
  const controls = new ControlInbox(false);
  const snapshot = snapshotOf(asReplica, observed(up({ replica: streaming() })));
  assert.equal((await post(snapshot, '/pause', { controls })).status, 401);
  assert.equal(controls.read().paused, false);
  assert.equal((await post(snapshot, '/pause', { token: TOKEN, controls })).status, 200);
  assert.equal(controls.read().paused, true, 'the next tick reads paused');
  const status = (await get(snapshot, '/status', controls, TOKEN)).body;
  assert.equal(status.paused, true);
  assert.match(status.warnings.join('\n'), /automatic failover is paused/);
  await post(snapshot, '/resume', { token: TOKEN, controls });
  assert.equal(controls.read().paused, false);
});

test('POST /failsafe, behind the token: a replica that follows the primary and cannot reach the store confirms, and takes no lease for a TTL', async () => {
  const controls = new ControlInbox(false);
  const storeDown = { state: 'unknown' as const, error: 'etcd: connection refused' };
  const snapshot = snapshotOf(asReplica, observed(up({ replica: streaming() }), { lease: storeDown }));
  assert.equal((await post(snapshot, '/failsafe', { controls, body: { primary: 'mysql-ha-0' } })).status, 401);
  assert.equal((await post(snapshot, '/failsafe', { token: TOKEN, controls, body: {} })).status, 400);
  const confirmed = await post(snapshot, '/failsafe', { token: TOKEN, controls, body: { primary: 'mysql-ha-0' } });
  assert.equal(confirmed.status, 200);
  assert.match(confirmed.body.reason, /follows mysql-ha-0 and cannot reach the lease store either/);
  assert.deepEqual(controls.read().failsafePromise, { primary: 'mysql-ha-0', until: NOW + 5000 });
  const reaching = snapshotOf(asReplica, observed(up({ replica: streaming() })));
  const refused = await post(reaching, '/failsafe', { token: TOKEN, controls: new ControlInbox(false), body: { primary: 'mysql-ha-0' } });
  assert.equal(refused.status, 409);
  assert.match(refused.body.reason, /reaches the lease store/);
});

test('POST /nudge, behind the token: the loop looks again now', async () => {
  const controls = new ControlInbox(false);
  let woken = 0;
  controls.onRequest(() => woken++);
  const snapshot = snapshotOf(asReplica, observed(up({ replica: streaming() })));
  assert.equal((await post(snapshot, '/nudge', { controls })).status, 401);
  assert.equal(woken, 0);
  assert.equal((await post(snapshot, '/nudge', { token: TOKEN, controls })).status, 200);
  assert.equal(woken, 1);
});

test('over HTTPS: a client with the CA reads the agent; another CA, another name or plain HTTP is refused; a new CA is taken on reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-agent-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const address = '127.0.14.2';
  issueCertificate(join(dir, 'ca'), join(dir, 'pod'), [PRIMARY.name, address]);
  issueCertificate(join(dir, 'other-ca'), join(dir, 'other-pod'), [PRIMARY.name, address]);
  const ca = join(dir, 'ca', 'ca.crt');
  const app = buildApp({
    board: new SnapshotBoard(writablePrimary),
    leaseHistory: async () => HISTORY,
    controls: new ControlInbox(false),
    metrics: new AgentMetrics(),
    now: () => NOW,
    failsafePromiseMs: 5000,
    tls: { cert: readFileSync(join(dir, 'pod', 'tls.crt')), key: readFileSync(join(dir, 'pod', 'tls.key')) },
  });
  const port = await freePort();
  await app.listen({ host: address, port });
  t.after(() => app.close());
  const clients: AgentClient[] = [];
  const clientWith = (caFile: string | null, serverName?: string) => {
    const client = new AgentClient(caFile, serverName);
    clients.push(client);
    return client;
  };
  t.after(() => Promise.all(clients.map((client) => client.close())));
  const health = async (client: AgentClient, url = client.url(address, port)) => {
    try {
      return (await client.request(`${url}/health`, { timeoutMs: 2000 })).status;
    } catch (error) {
      return rootMessageOf(error);
    }
  };

  const verified = clientWith(ca);
  assert.equal(verified.url(address, port), `https://${address}:${port}`);
  assert.equal(await health(verified), 200);
  const status = await fetchStatus(verified, verified.url(address, port), 2000, TOKEN);
  assert.equal(status.status?.pod, PRIMARY.name, status.unreachable ?? '');
  // Reached by its address, verified as the name its certificate gives it (a container's pod from this machine).
  assert.equal(await health(clientWith(ca, PRIMARY.name)), 200);

  assert.match(
    String(await health(clientWith(join(dir, 'other-ca', 'ca.crt')))),
    new RegExp(
      `^the certificate of the agent at ${address}:${port} was refused: ` +
        '(self-signed certificate in certificate chain|unable to verify the first certificate); what to do: .*MHA_AGENT_CERTIFICATE_REFUSED',
    ),
  );
  assert.match(String(await health(clientWith(ca, REPLICA.name))), /Hostname\/IP does not match certificate's altnames.*MHA_AGENT_CERTIFICATE_REFUSED/);
  assert.match(String(await health(clientWith(null))), /other side closed|socket hang up|ECONNRESET/, 'plain HTTP to an HTTPS agent');
  const peer = await fetchStatus(clientWith(join(dir, 'other-ca', 'ca.crt')), verified.url(address, port), 2000, TOKEN);
  assert.match(peer.unreachable ?? '', /^agent unreachable \(.*certificate/, 'an agent of another CA is data for its peers: unreachable, and why');

  // The CA file replaced (a new CA in the Secret): connections from then on verify with it.
  copyFileSync(join(dir, 'other-ca', 'ca.crt'), ca);
  verified.reloadCa();
  assert.match(String(await health(verified)), /self-signed certificate in certificate chain|unable to verify/);
});

test("POST /reinit: needs the token; answers the loop's decision (the copy started, or why not); bad donor names are 400", async () => {
  const controls = new ControlInbox(false);
  assert.equal((await post(lagging, '/reinit', { controls })).status, 401);
  assert.equal((await post(lagging, '/reinit', { token: TOKEN, body: { donor: 'Not A Pod' }, controls })).status, 400);
  const loop = setInterval(() => {
    const request = controls.read().reinit;
    if (request === null) return;
    controls.answerReinit(
      request,
      request.donor === 'mysql-ha-0'
        ? { ok: false, reason: 'mysql-ha-0 cannot be the donor: agent unreachable' }
        : { ok: true, donor: 'mysql-ha-2', reason: 'reinit requested' },
    );
  }, 5);
  try {
    const started = await post(lagging, '/reinit', { token: TOKEN, body: {}, controls });
    assert.deepEqual(started, { status: 200, body: { ok: true, donor: 'mysql-ha-2', reason: 'reinit requested' } });
    const refused = await post(lagging, '/reinit', { token: TOKEN, body: { donor: 'mysql-ha-0' }, controls });
    assert.deepEqual(refused, { status: 409, body: { ok: false, reason: 'mysql-ha-0 cannot be the donor: agent unreachable' } });
  } finally {
    clearInterval(loop);
  }
});

test('GET /history: every change of lease holder from the store; reasons withheld without the token; a store that fails is a 503 saying so', async () => {
  const withToken = await get(lagging, '/history', undefined, TOKEN);
  assert.deepEqual(withToken, { status: 200, body: { ok: true, history: HISTORY, redacted: false } });
  const anonymous = await get(lagging, '/history');
  assert.equal(anonymous.body.redacted, true);
  assert.deepEqual(
    anonymous.body.history.map((entry: LeaseHistoryEntry) => entry.reason),
    [WITHHELD, WITHHELD],
  );
  assert.deepEqual(
    anonymous.body.history.map(({ reason: _reason, ...rest }: LeaseHistoryEntry) => rest),
    HISTORY.map(({ reason: _reason, ...rest }) => rest),
  );
  const storeDown = appFor(lagging, undefined, undefined, async () => {
    throw new Error('etcd http://127.0.10.200:2379: read the lease history failed: deadline exceeded');
  });
  const failed = await storeDown.inject({ method: 'GET', url: '/history' });
  assert.equal(failed.statusCode, 503);
  assert.match(failed.json().reason, /^cannot read the lease history: etcd .*deadline exceeded/);
});
