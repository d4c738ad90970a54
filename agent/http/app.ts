import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { healthCheck, primaryCheck, readOnlyCheck, replicaCheck, roleOf, type Check } from '../health.ts';
import type { AgentMetrics } from '../metrics.ts';
import type { AgentSnapshot } from '../snapshot.ts';
import { statusOf } from './status.ts';

export interface AppOptions {
  snapshot: AgentSnapshot;
  metrics: AgentMetrics;
  now?: () => number;
}

const lagQuery = {
  querystring: {
    type: 'object',
    properties: { lag: { type: 'integer', minimum: 0 } },
    additionalProperties: false,
  },
} as const;

/**
 * The agent's HTTP API. Every answer comes from the loop's latest snapshot: a storm of
 * HAProxy or kubelet checks costs mysqld nothing.
 */
export function buildApp({ snapshot, metrics, now = Date.now }: AppOptions): FastifyInstance {
  // Reject unknown query parameters instead of dropping them: a typo (?lags=5) must not silently mean "default lag".
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false } } });
  const topology = () => snapshot.topology;
  const maxLag = (lag: number | undefined) => lag ?? snapshot.config.maxLagSeconds;
  const answer = (reply: FastifyReply, check: Check) =>
    reply.code(check.ok ? 200 : 503).send({ ok: check.ok, role: roleOf(snapshot.observation, topology()), reason: check.reason });

  app.get('/health', (_request, reply) => answer(reply, healthCheck(snapshot.observation, topology(), snapshot.config.maxLagSeconds)));
  app.get('/readiness', (_request, reply) => answer(reply, healthCheck(snapshot.observation, topology(), snapshot.config.maxLagSeconds)));
  app.get('/liveness', (_request, reply) => {
    const silentMs = now() - snapshot.heartbeatAt;
    const ok = silentMs <= snapshot.config.livenessTimeoutMs;
    return reply.code(ok ? 200 : 503).send({ ok, reason: `last loop progress ${silentMs} ms ago (limit ${snapshot.config.livenessTimeoutMs} ms)` });
  });
  app.get('/primary', (_request, reply) => answer(reply, primaryCheck(snapshot.observation, topology())));
  app.get<{ Querystring: { lag?: number } }>('/replica', { schema: lagQuery }, (request, reply) =>
    answer(reply, replicaCheck(snapshot.observation, topology(), maxLag(request.query.lag))),
  );
  app.get<{ Querystring: { lag?: number } }>('/read-only', { schema: lagQuery }, (request, reply) =>
    answer(reply, readOnlyCheck(snapshot.observation, topology(), maxLag(request.query.lag))),
  );
  app.get('/binlog-position', (_request, reply) => {
    const check = primaryCheck(snapshot.observation, topology());
    const mysql = snapshot.observation?.mysql;
    if (!check.ok || !mysql?.up) return reply.code(503).send({ ready: false, reason: check.reason });
    if (!mysql.binlog) return reply.code(503).send({ ready: false, reason: 'binary logging is off on the primary' });
    return reply.send({
      file: mysql.binlog.file,
      position: mysql.binlog.position,
      gtidExecuted: mysql.variables.gtidExecuted,
      serverUuid: mysql.variables.serverUuid,
    });
  });
  app.get('/status', (_request, reply) => reply.send(statusOf(snapshot)));
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  return app;
}
