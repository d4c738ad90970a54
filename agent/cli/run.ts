import pRetry from 'p-retry';
import { loadRunConfig, type RunConfig } from '../config.ts';
import { createLeaseStore } from '../coordination/create-lease-store.ts';
import { LeaseKeeper } from '../coordination/lease-keeper.ts';
import { AgentError, messageOf } from '../errors.ts';
import { buildApp, SwitchoverRefused } from '../http/app.ts';
import { AgentMetrics } from '../http/metrics.ts';
import { PrimaryPositionWatcher } from '../http/primary-position-watcher.ts';
import { noopPodRolePublisher } from '../kubernetes/noop-publisher.ts';
import type { PodRolePublisher } from '../kubernetes/pod-role-publisher.ts';
import { createLogger, type Logger } from '../log.ts';
import { Actuator } from '../loop/actuator.ts';
import { AgentLoop } from '../loop/agent-loop.ts';
import type { AgentSnapshot } from '../loop/snapshot.ts';
import { type SwitchoverParts, switchover } from '../loop/switchover.ts';
import { type Dialect, dialectForServer, parseServerVersion, type ServerVersion } from '../mysql/dialect/index.ts';
import { LocalServer } from '../mysql/local-server.ts';
import { MysqlObserver } from '../mysql/observer.ts';

/** Waits (forever, with capped backoff) for the local mysqld, then picks its dialect once. */
async function detectServer(server: LocalServer, snapshot: AgentSnapshot, log: Logger): Promise<{ version: ServerVersion; dialect: Dialect }> {
  return pRetry(
    async () => {
      const [row] = await server.query('SELECT VERSION() AS version');
      const version = parseServerVersion(String(row?.version));
      // An unsupported server is not worth retrying: dialectForServer stops with the reason.
      return { version, dialect: dialectForServer(version) };
    },
    {
      retries: Number.POSITIVE_INFINITY,
      // Local and cheap to try: a starting mysqld is picked up within a second of accepting.
      minTimeout: 200,
      maxTimeout: 1000,
      factor: 1.5,
      shouldRetry: ({ error }) => !(error instanceof AgentError && error.code === 'MHA_UNSUPPORTED_SERVER'),
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        snapshot.heartbeatAt = Date.now();
        snapshot.observation = {
          at: Date.now(),
          mysql: { up: false, error: error.message },
          primaryPosition: { state: 'not-needed' },
          lease: { state: 'unknown', error: 'not read until the local mysqld answers' },
          heldUntil: null,
          mysqldDownSince: null,
          peers: [],
          lastFailoverAt: null,
          selfErrant: false,
          paused: snapshot.paused,
          handingOver: false,
        };
        log.info({ attempt: attemptNumber, retryInMs: retryDelay, error: error.message }, 'waiting for the local mysqld');
      },
    },
  );
}

/** The pod-label publisher; outside Kubernetes (the sandbox) its client library is not even loaded. */
async function rolePublisherFor(config: RunConfig, log: Logger): Promise<PodRolePublisher> {
  if (!process.env.KUBERNETES_SERVICE_HOST) {
    log.info('not running in Kubernetes (KUBERNETES_SERVICE_HOST is unset): no pod role label to publish');
    return noopPodRolePublisher;
  }
  const { createPodRolePublisher } = await import('../kubernetes/create-pod-role-publisher.ts');
  return createPodRolePublisher({ podName: config.pod.name, logger: log });
}

function initialSnapshot(config: RunConfig): AgentSnapshot {
  const self = config.peers.find((peer) => peer.name === config.pod.name) ?? { name: config.pod.name, host: config.mysql.host };
  return {
    config: {
      pod: config.pod,
      maxLagSeconds: config.maxLagSeconds,
      livenessTimeoutMs: config.livenessTimeoutMs,
      lossless: config.lossless,
      switchoverToken: config.switchoverToken,
    },
    topology: { self, peers: config.peers, bootstrapPrimary: config.bootstrapPrimary, mysqlPort: config.mysql.port },
    server: null,
    observation: null,
    decision: null,
    actionError: null,
    heartbeatAt: Date.now(),
    paused: config.paused,
    handingOver: false,
  };
}

export async function main(_args: string[]): Promise<number> {
  const config = loadRunConfig(process.env);
  const log = createLogger(config.logLevel, { pod: config.pod.name });
  const snapshot = initialSnapshot(config);
  const metrics = new AgentMetrics();
  const server = new LocalServer({ ...config.mysql, ...config.agent, node: config.pod.name });

  const leaseKeeper = new LeaseKeeper(await createLeaseStore(config), config.pod.name, {
    ttlMs: config.timings.leaseTtlMs,
    renewPeriodMs: config.timings.renewPeriodMs,
    fenceMarginMs: config.timings.fenceMarginMs,
  });
  let switchoverParts: SwitchoverParts | undefined;
  // Serve probes first: while mysqld starts, /liveness is green and /health says why it is red.
  const app = buildApp({
    snapshot,
    metrics,
    switchover: async (candidate) => {
      if (!switchoverParts) throw new SwitchoverRefused('this agent is still waiting for its mysqld');
      return switchover(switchoverParts, candidate);
    },
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  log.info(
    {
      http: `${config.http.host}:${config.http.port}`,
      lease: leaseKeeper.store.description,
      peers: config.peers,
      lossless: config.lossless,
      timings: config.timings,
    },
    'agent listening',
  );

  let loop: AgentLoop | undefined;
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'stopping');
    loop?.stop();
    await app.close();
    await server.close();
    await leaseKeeper.store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  let dialect: Dialect;
  try {
    ({ version: snapshot.server, dialect } = await detectServer(server, snapshot, log));
  } catch (error) {
    log.fatal({ error: messageOf(error) }, 'cannot manage this server');
    await app.close();
    await server.close();
    throw error;
  }
  log.info({ flavor: snapshot.server.flavor, version: snapshot.server.version }, 'connected to the local mysqld');
  const actuator = new Actuator({ server, dialect, config, lease: leaseKeeper });
  loop = new AgentLoop({
    config,
    dialect,
    observer: new MysqlObserver(server, dialect, config.agent.user),
    lease: leaseKeeper,
    watcher: new PrimaryPositionWatcher({ agentPort: config.http.port, log, onReady: () => loop?.wake() }),
    actuator,
    metrics,
    rolePublisher: await rolePublisherFor(config, log),
    log,
    snapshot,
  });
  switchoverParts = { config, dialect, loop, actuator, lease: leaseKeeper, snapshot, log };
  loop.start();
  // Runs until a signal arrives.
  return new Promise<number>(() => undefined);
}
