import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { LeaseHistoryEntry } from '../coordination/lease.ts';
import { messageOf } from '../errors.ts';
import type { ControlInbox } from '../loop/controls.ts';
import { answerFailsafe } from '../loop/failsafe.ts';
import { type Check, checkContext, healthCheck, judge, livenessCheck, primaryCheck, readOnlyCheck, replicaCheck, roleOf } from '../loop/health.ts';
import type { SnapshotBoard } from '../loop/snapshot.ts';
import { GTID_STATE_HEADER } from '../mysql/streamed-copy.ts';
import { bearerTokenMatches } from './bearer-token.ts';
import type { AgentMetrics } from './metrics.ts';
import { statusOf, WITHHELD, withoutTexts } from './status.ts';

export interface AppOptions {
  /** The loop's results, read on every request. */
  board: SnapshotBoard;
  /** Where requests to the loop go (pause, switchover). */
  controls: ControlInbox;
  metrics: AgentMetrics;
  /** The agent's clock (the one its lease deadlines are on). */
  now: () => number;
  /** How long a failsafe confirmation promises not to take the lease: one lease TTL. */
  failsafePromiseMs: number;
  /** The pod's certificate and key (MYSQL_HA_TLS_DIR): serve HTTPS with them instead of HTTP. */
  tls?: ServingCertificate | null;
  /** Every change of lease holder, as the lease store keeps it (GET /history). */
  leaseHistory: () => Promise<LeaseHistoryEntry[]>;
  /** A copy of this node's data for a peer's reinit (GET /backup, MariaDB), or why there is none. */
  backups?: BackupSource;
}

export interface BackupSource {
  open(): Promise<{ ok: true; gtidState: string; body: Readable } | { ok: false; reason: string }>;
}

/** PEM contents of a certificate (with its chain) and its key. */
export interface ServingCertificate {
  cert: Buffer;
  key: Buffer;
}

const NO_BACKUPS: BackupSource = { open: async () => ({ ok: false, reason: 'this agent sends no copies' }) };

export type AgentApp = FastifyInstance<HttpServer | HttpsServer>;

/** `?lag=`: seconds, bare (10, 1.5) or with a unit (500ms, 10s, 2m), as Patroni-style checks write it. */
const LAG = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;
const SECONDS_PER_UNIT = { ms: 0.001, s: 1, m: 60 } as const;

const lagQuery = {
  querystring: {
    type: 'object',
    properties: { lag: { type: 'string', pattern: LAG.source } },
    additionalProperties: false,
  },
} as const;

function lagSeconds(text: string): number {
  const [, amount, unit = 's'] = LAG.exec(text)!;
  return Number(amount) * SECONDS_PER_UNIT[unit as keyof typeof SECONDS_PER_UNIT];
}

/**
 * Checks answer GET, HEAD (Fastify adds it to every GET route) and OPTIONS alike: Patroni's
 * reference haproxy.cfg checks with `OPTIONS /primary`, and a team moving from it keeps its config.
 */
const CHECK_METHODS = ['GET', 'OPTIONS'];

/** A pod name as the API takes it (a DNS label). */
const POD_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const failsafeBody = {
  body: {
    type: 'object',
    properties: { primary: { type: 'string', pattern: POD_NAME } },
    required: ['primary'],
    additionalProperties: false,
  },
} as const;

const switchoverBody = {
  body: {
    type: 'object',
    properties: { candidate: { type: 'string', pattern: POD_NAME } },
    additionalProperties: false,
  },
} as const;

const failoverBody = {
  body: {
    type: 'object',
    properties: { force: { type: 'boolean' } },
    additionalProperties: false,
  },
} as const;

const reinitBody = {
  body: {
    type: 'object',
    properties: { donor: { type: 'string', pattern: POD_NAME } },
    additionalProperties: false,
  },
} as const;

/**
 * The agent's HTTP API. Every answer comes from the loop's latest snapshot: a storm of
 * HAProxy or kubelet checks costs mysqld nothing. Only the lease deadline is judged at
 * request time, so /primary turns 503 the moment the lease runs out.
 */
export function buildApp({ board, controls, metrics, now, failsafePromiseMs, tls = null, leaseHistory, backups = NO_BACKUPS }: AppOptions): AgentApp {
  // Reject unknown query parameters instead of dropping them: a typo (?lags=5) must not silently mean "default lag".
  const app: AgentApp = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } }, https: tls });
  const context = () => checkContext(board.current, now(), controls.terminating);
  const maxLag = (lag: string | undefined) => (lag === undefined ? board.current.config.maxLagSeconds : lagSeconds(lag));
  const answer = (reply: FastifyReply, check: Check) =>
    reply.code(check.ok ? 200 : check.drain ? 404 : 503).send({ ok: check.ok, role: roleOf(board.current.observation), reason: check.reason });
  const health = () => judge(board.current, (observation) => healthCheck(observation, context(), board.current.config.maxLagSeconds));

  const route = (url: string, judgeNow: (lag: string | undefined) => Check, schema?: typeof lagQuery) =>
    app.route<{ Querystring: { lag?: string } }>({
      method: CHECK_METHODS,
      url,
      schema,
      handler: (request, reply) => answer(reply, judgeNow(request.query.lag)),
    });
  const primary = () => judge(board.current, (observation) => primaryCheck(observation, context()));

  route('/health', health);
  route('/readiness', health);
  app.route({
    method: CHECK_METHODS,
    url: '/liveness',
    handler: (_request, reply) => {
      const { ok, reason } = livenessCheck(board.current, now());
      return reply.code(ok ? 200 : 503).send({ ok, reason });
    },
  });
  // Patroni's names for the same check: /leader, /read-write.
  for (const url of ['/primary', '/leader', '/read-write']) route(url, primary);
  route('/replica', (lag) => judge(board.current, (observation) => replicaCheck(observation, context(), maxLag(lag))), lagQuery);
  route('/read-only', (lag) => judge(board.current, (observation) => readOnlyCheck(observation, context(), maxLag(lag))), lagQuery);
  app.get('/binlog-position', (_request, reply) => {
    const check = primary();
    const mysql = board.current.observation?.mysql;
    if (!check.ok || !mysql?.up) return reply.code(503).send({ ready: false, reason: check.reason });
    if (!mysql.binlog) return reply.code(503).send({ ready: false, reason: 'binary logging is off on the primary' });
    return reply.send({
      file: mysql.binlog.file,
      position: mysql.binlog.position,
      gtidExecuted: mysql.variables.gtidExecuted,
      gtidPurged: mysql.variables.gtidPurged,
      serverUuid: mysql.variables.serverUuid,
    });
  });
  app.get('/status', (request, reply) => {
    const status = statusOf(board.current, controls, now());
    const token = board.current.config.switchoverToken;
    return reply.send(token !== null && bearerTokenMatches(request.headers.authorization, token) ? status : withoutTexts(status));
  });
  // Reasons are free texts (they name pods and errors): withheld without the token, as in /status.
  app.get('/history', async (request, reply) => {
    let history: LeaseHistoryEntry[];
    try {
      history = await leaseHistory();
    } catch (error) {
      return reply.code(503).send({ ok: false, reason: `cannot read the lease history: ${messageOf(error)}` });
    }
    const token = board.current.config.switchoverToken;
    const withTexts = token !== null && bearerTokenMatches(request.headers.authorization, token);
    return reply.send({ ok: true, history: withTexts ? history : history.map((entry) => ({ ...entry, reason: WITHHELD })), redacted: !withTexts });
  });
  app.get('/metrics', async (_request, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));

  /** Control endpoints need the switchover token (a Secret): 401 before anything else is looked at. */
  const requireToken = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = board.current.config.switchoverToken;
    if (token === null) {
      return reply.code(401).send({ ok: false, reason: 'control endpoints are disabled: set MYSQL_HA_SWITCHOVER_TOKEN (or _FILE) on every agent' });
    }
    if (!bearerTokenMatches(request.headers.authorization, token)) {
      return reply.code(401).send({ ok: false, reason: 'missing or wrong bearer token (Authorization: Bearer <MYSQL_HA_SWITCHOVER_TOKEN>)' });
    }
  };

  app.post<{ Body: { candidate?: string } | undefined }>('/switchover', { schema: switchoverBody, onRequest: requireToken }, async (request, reply) => {
    if (board.current.decision === null) return reply.code(409).send({ ok: false, reason: 'this agent is still waiting for its mysqld' });
    // The loop decides on the request (hand-over or refusal) and answers once it is carried out.
    const outcome = await controls.requestSwitchover(request.body?.candidate ?? null);
    return reply.code(outcome.ok ? 200 : 409).send(outcome);
  });
  // Replace this replica's data with a copy of a donor's: answered once the loop decided (the copy runs on).
  app.post<{ Body: { donor?: string } | undefined }>('/reinit', { schema: reinitBody, onRequest: requireToken }, async (request, reply) => {
    if (board.current.decision === null) return reply.code(409).send({ ok: false, reason: 'this agent is still waiting for its mysqld' });
    const outcome = await controls.requestReinit(request.body?.donor ?? null);
    return reply.code(outcome.ok ? 200 : 409).send(outcome);
  });
  // A peer's reinit fetches a copy of this node's data (mariadb-backup's stream; MySQL clones over SQL instead).
  app.get('/backup', { onRequest: requireToken }, async (_request, reply) => {
    const backup = await backups.open();
    if (!backup.ok) return reply.code(409).send(backup);
    return reply.header(GTID_STATE_HEADER, backup.gtidState).type('application/octet-stream').send(backup.body);
  });
  // Restart this replica's mysqld; answered once it is back (a primary is refused: switch over first).
  app.post('/restart', { onRequest: requireToken }, async (_request, reply) => {
    if (board.current.decision === null) return reply.code(409).send({ ok: false, reason: 'this agent is still waiting for its mysqld' });
    const outcome = await controls.requestRestart();
    return reply.code(outcome.ok ? 200 : 409).send(outcome);
  });
  // Take the free lease by hand (automatic failover paused or impossible); answered once decided.
  app.post<{ Body: { force?: boolean } | undefined }>('/failover', { schema: failoverBody, onRequest: requireToken }, async (request, reply) => {
    if (board.current.decision === null) return reply.code(409).send({ ok: false, reason: 'this agent is still waiting for its mysqld' });
    const outcome = await controls.requestFailover(request.body?.force === true);
    return reply.code(outcome.ok ? 200 : 409).send(outcome);
  });
  // A peer that just handed this node the lease: look now rather than on the next tick.
  app.post('/nudge', { onRequest: requireToken }, async (_request, reply) => {
    controls.nudge();
    return reply.send({ ok: true, reason: 'looking again now' });
  });
  // A primary cut off from the lease store asks this node to confirm it follows it (agent/loop/failsafe.ts).
  app.post<{ Body: { primary: string } }>('/failsafe', { schema: failsafeBody, onRequest: requireToken }, async (request, reply) => {
    const { primary } = request.body;
    const answer = answerFailsafe(board.current.observation, board.current.topology, primary);
    if (answer.ok) controls.promiseFailsafe(primary, now() + failsafePromiseMs);
    return reply.code(answer.ok ? 200 : 409).send(answer);
  });
  for (const [path, paused] of [
    ['/pause', true],
    ['/resume', false],
  ] as const) {
    app.post(path, { onRequest: requireToken }, async (_request, reply) => {
      controls.setPaused(paused);
      return reply.send({ ok: true, paused, reason: paused ? 'automatic failover paused on this agent' : 'automatic failover resumed on this agent' });
    });
  }
  return app;
}
