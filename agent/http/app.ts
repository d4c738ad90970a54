import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Check, type CheckContext, healthCheck, primaryCheck, readOnlyCheck, replicaCheck, roleOf } from '../loop/health.ts';
import type { AgentSnapshot } from '../loop/snapshot.ts';
import type { AgentMetrics } from './metrics.ts';
import { statusOf } from './status.ts';

/** A planned switchover, done by the loop's owner; rejects with a SwitchoverRefused to answer 409. */
export type SwitchoverHandler = (candidate: string | undefined) => Promise<{ from: string; to: string; handoverMs: number }>;

export class SwitchoverRefused extends Error {}

export interface AppOptions {
  snapshot: AgentSnapshot;
  metrics: AgentMetrics;
  switchover?: SwitchoverHandler;
  now?: () => number;
}

const lagQuery = {
  querystring: {
    type: 'object',
    properties: { lag: { type: 'integer', minimum: 0 } },
    additionalProperties: false,
  },
} as const;

const switchoverBody = {
  body: {
    type: 'object',
    properties: { candidate: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } },
    additionalProperties: false,
  },
} as const;

/**
 * The agent's HTTP API. Every answer comes from the loop's latest snapshot: a storm of
 * HAProxy or kubelet checks costs mysqld nothing. Only the lease deadline is judged at
 * request time, so /primary turns 503 the moment the lease runs out.
 */
export function buildApp({ snapshot, metrics, switchover, now = Date.now }: AppOptions): FastifyInstance {
  // Reject unknown query parameters instead of dropping them: a typo (?lags=5) must not silently mean "default lag".
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } } });
  const context = (): CheckContext => ({ topology: snapshot.topology, lossless: snapshot.config.lossless, now: now() });
  const maxLag = (lag: number | undefined) => lag ?? snapshot.config.maxLagSeconds;
  const answer = (reply: FastifyReply, check: Check) =>
    reply.code(check.ok ? 200 : 503).send({ ok: check.ok, role: roleOf(snapshot.observation), reason: check.reason });

  app.get('/health', (_request, reply) => answer(reply, healthCheck(snapshot.observation, context(), snapshot.config.maxLagSeconds)));
  app.get('/readiness', (_request, reply) => answer(reply, healthCheck(snapshot.observation, context(), snapshot.config.maxLagSeconds)));
  app.get('/liveness', (_request, reply) => {
    const silentMs = now() - snapshot.heartbeatAt;
    const ok = silentMs <= snapshot.config.livenessTimeoutMs;
    return reply.code(ok ? 200 : 503).send({ ok, reason: `last loop progress ${silentMs} ms ago (limit ${snapshot.config.livenessTimeoutMs} ms)` });
  });
  app.get('/primary', (_request, reply) => answer(reply, primaryCheck(snapshot.observation, context())));
  app.get<{ Querystring: { lag?: number } }>('/replica', { schema: lagQuery }, (request, reply) =>
    answer(reply, replicaCheck(snapshot.observation, context(), maxLag(request.query.lag))),
  );
  app.get<{ Querystring: { lag?: number } }>('/read-only', { schema: lagQuery }, (request, reply) =>
    answer(reply, readOnlyCheck(snapshot.observation, context(), maxLag(request.query.lag))),
  );
  app.get('/binlog-position', (_request, reply) => {
    const check = primaryCheck(snapshot.observation, context());
    const mysql = snapshot.observation?.mysql;
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
  app.get('/status', (_request, reply) => reply.send(statusOf(snapshot, now())));
  app.get('/metrics', async (_request, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));

  /** Control endpoints need the switchover token (a Secret): 401 before anything else is looked at. */
  const requireToken = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = snapshot.config.switchoverToken;
    if (token === null) {
      return reply.code(401).send({ ok: false, reason: 'control endpoints are disabled: set MYSQL_HA_SWITCHOVER_TOKEN (or _FILE) on every agent' });
    }
    if (request.headers.authorization !== `Bearer ${token}`) {
      return reply.code(401).send({ ok: false, reason: 'missing or wrong bearer token (Authorization: Bearer <MYSQL_HA_SWITCHOVER_TOKEN>)' });
    }
  };

  app.post<{ Body: { candidate?: string } | undefined }>('/switchover', { schema: switchoverBody, onRequest: requireToken }, async (request, reply) => {
    if (!switchover) return reply.code(409).send({ ok: false, reason: 'this agent is not running its loop yet' });
    try {
      return reply.send({ ok: true, ...(await switchover(request.body?.candidate)) });
    } catch (error) {
      if (error instanceof SwitchoverRefused) return reply.code(409).send({ ok: false, reason: error.message });
      throw error;
    }
  });
  for (const [path, paused] of [
    ['/pause', true],
    ['/resume', false],
  ] as const) {
    app.post(path, { onRequest: requireToken }, async (_request, reply) => {
      snapshot.paused = paused;
      return reply.send({ ok: true, paused, reason: paused ? 'automatic failover paused on this agent' : 'automatic failover resumed on this agent' });
    });
  }
  return app;
}
