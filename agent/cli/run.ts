import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadRunConfig, type Peer, type RunConfig, type TlsFiles } from '../config.ts';
import { createLeaseStore } from '../coordination/create-lease-store.ts';
import { LeaseKeeper } from '../coordination/lease-keeper.ts';
import { messageOf } from '../errors.ts';
import { AgentClient } from '../http/agent-client.ts';
import { buildApp, type ServingCertificate } from '../http/app.ts';
import { AgentMetrics } from '../http/metrics.ts';
import { askFailsafe, nudgePeers } from '../http/peer-control.ts';
import { observePeers } from '../http/peer-status.ts';
import { PrimaryPositionWatcher, readPrimaryGtids } from '../http/primary-position-watcher.ts';
import { UNVERIFIED_TLS_WARNING } from '../http/status.ts';
import { inKubernetes, notInKubernetesReason } from '../kubernetes/in-cluster.ts';
import { noopPodRolePublisher } from '../kubernetes/noop-publisher.ts';
import type { PodRolePublisher } from '../kubernetes/pod-role-publisher.ts';
import { createLogger, type Logger } from '../log.ts';
import { Actuator } from '../loop/actuator.ts';
import { AgentLoop } from '../loop/agent-loop.ts';
import { type Clock, systemClock } from '../loop/clock.ts';
import { ControlInbox } from '../loop/controls.ts';
import { type AgentSnapshot, SnapshotBoard } from '../loop/snapshot.ts';
import { waitForServer } from '../loop/startup.ts';
import { LocalServer } from '../mysql/local-server.ts';
import { MysqlObserver } from '../mysql/observer.ts';
import { backupDonor, copyUnavailableReason, StreamedCopy } from '../mysql/streamed-copy.ts';
import { CERTIFICATE_CHECK_MS, CertificateReloader } from '../pod/certificate-reloader.ts';
import { MysqldMayStopFile } from '../pod/mysqld-may-stop.ts';
import { PeersFile } from '../pod/peers-file.ts';
import { SecretPasswords } from '../pod/secret-passwords.ts';

/** A nudge only saves the candidate part of a tick: never wait longer than that for it. */
const NUDGE_TIMEOUT_MS = 250;
/** The primary answers /binlog-position from memory; a slow answer only delays the errant check to the next tick. */
const PRIMARY_GTIDS_TIMEOUT_MS = 500;

/** The pod-label publisher; outside Kubernetes (the sandbox) its client library is not even loaded. */
async function rolePublisherFor(config: RunConfig, log: Logger): Promise<PodRolePublisher> {
  if (!inKubernetes()) {
    log.info(`not running in Kubernetes (${notInKubernetesReason}): no pod role label to publish`);
    return noopPodRolePublisher;
  }
  const { createPodRolePublisher } = await import('../kubernetes/create-pod-role-publisher.ts');
  return createPodRolePublisher({ podName: config.pod.name, logger: log });
}

/** The cluster's pods: fixed, or in Kubernetes the StatefulSet's spec.replicas, read again from time to time. */
async function peerSetFor(config: RunConfig, log: Logger): Promise<{ readonly current: Peer[] }> {
  if (config.peersFile !== null) {
    const file = new PeersFile(config.peersFile.path, config.pod.name, config.peers, log);
    file.start(config.peersFile.refreshMs);
    return file;
  }
  const source = config.statefulSetPeers;
  if (source === null || !inKubernetes()) return { current: config.peers };
  const { apiAccess } = await import('../kubernetes/create-pod-role-publisher.ts');
  const { StatefulSetPeerSet } = await import('../kubernetes/statefulset-peers.ts');
  const access = apiAccess({ podName: config.pod.name, logger: log }, `following StatefulSet ${source.statefulSet}'s replica count`);
  if (access === null) return { current: config.peers };
  const peerSet = new StatefulSetPeerSet({ ...access, ...source, initial: config.peers, logger: log });
  peerSet.start(source.refreshMs);
  return peerSet;
}

function servingCertificate(files: TlsFiles): ServingCertificate {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

function initialSnapshot(config: RunConfig, clock: Clock): AgentSnapshot {
  const self = config.peers.find((peer) => peer.name === config.pod.name) ?? { name: config.pod.name, host: config.mysql.host };
  return {
    config: {
      pod: config.pod,
      maxLagSeconds: config.maxLagSeconds,
      livenessTimeoutMs: config.livenessTimeoutMs,
      lossless: config.lossless,
      switchoverToken: config.switchoverToken,
      tls: config.tls,
    },
    topology: {
      self,
      tags: config.tags,
      revision: config.podRevision,
      peers: config.peers,
      bootstrapPrimary: config.bootstrapPrimary,
      mysqlPort: config.mysql.port,
    },
    server: null,
    waitingFor: 'mysqld not asked yet',
    observation: null,
    decision: null,
    actionError: null,
    lastSwitchover: null,
    heartbeatAt: clock.now(),
    runningAction: null,
    writesStoppedBy: null,
  };
}

export async function main(_args: string[]): Promise<number> {
  const config = loadRunConfig(process.env);
  const clock = systemClock;
  const log = createLogger(config.logLevel, { pod: config.pod.name });
  const board = new SnapshotBoard(initialSnapshot(config, clock));
  const controls = new ControlInbox(config.paused);
  const metrics = new AgentMetrics();
  const tlsFiles = config.tls.files;
  const caFile = tlsFiles?.caFile;
  // With the cluster's certificates the agents' API is HTTPS, and peers must present one from its CA.
  const agentClient = new AgentClient(caFile ?? null);
  const localServerOptions = { ...config.mysql, ...config.agent, node: config.pod.name, tls: caFile ? ({ verify: false } as const) : undefined };
  let loop: AgentLoop | undefined;
  // A lost connection (mysqld stopped or killed) is looked at now, not at the next tick.
  const server = new LocalServer({ ...localServerOptions, onConnectionLost: () => loop?.wake() });
  const timings = { ttlMs: config.timings.leaseTtlMs, renewPeriodMs: config.timings.renewPeriodMs, fenceMarginMs: config.timings.fenceMarginMs };
  const leaseKeeper = new LeaseKeeper(await createLeaseStore(config), config.pod.name, timings, clock);
  // Serve probes first: while mysqld starts, /liveness is green and /health says why it is red.
  const app = buildApp({
    board,
    controls,
    metrics,
    now: clock.now,
    failsafePromiseMs: config.timings.leaseTtlMs,
    tls: tlsFiles ? servingCertificate(tlsFiles) : null,
    leaseHistory: () => leaseKeeper.store.history(),
    backups: backupDonor({
      node: config.pod.name,
      server: () => (found ? { query: (sql) => server.query(sql), dialect: found.dialect } : null),
      connection: { ...config.mysql, ...config.agent },
      log,
    }),
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  log.info(
    {
      http: agentClient.url(config.http.host, config.http.port),
      lease: leaseKeeper.store.description,
      peers: config.peers,
      lossless: config.lossless,
      timings: config.timings,
    },
    'agent listening',
  );
  if (!config.tls.files) log.warn({ setting: 'MYSQL_HA_TLS_DIR' }, UNVERIFIED_TLS_WARNING);

  const mayStop = new MysqldMayStopFile(config.mysqldMayStopFile, log);
  mayStop.clear();
  process.once('exit', () => mayStop.write('the agent exited'));
  let found: Awaited<ReturnType<typeof waitForServer>> | undefined;
  const shutdown = async (signal: string) => {
    if (loop) {
      // Terminating: the loop hands the lease over (or releases it) while mysqld still serves.
      const limitMs = config.timings.terminationTimeoutMs;
      log.info({ signal, limitMs }, 'terminating: handing over first if this node holds the lease');
      const since = clock.now();
      const finished = await Promise.race([controls.terminate(since).then(() => true), sleep(limitMs).then(() => false)]);
      if (!finished)
        log.warn({ limitMs, decision: board.current.decision?.reason }, 'termination limit reached before the hand-over was done; stopping anyway');
      // Every check has failed since SIGTERM; mysqld keeps serving until HAProxy has surely
      // noticed, so no client is sent to a server that refuses connections (HAProxy would
      // then wait a second before trying another).
      const drainLeftMs = since + config.timings.drainMs - clock.now();
      if (drainLeftMs > 0) {
        log.info({ drainLeftMs: Math.round(drainLeftMs) }, 'draining: waiting for HAProxy to send this pod nothing more');
        await sleep(drainLeftMs);
      }
    }
    log.info({ signal }, 'stopping');
    loop?.stop();
    mayStop.write(`the agent stopped on ${signal}`);
    await app.close();
    await server.close();
    await leaseKeeper.store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    found = await waitForServer(server, board, clock, log);
  } catch (error) {
    log.fatal({ error: messageOf(error) }, 'cannot manage this server');
    await app.close();
    await server.close();
    throw error;
  }
  const { version, dialect } = found!;
  log.info({ flavor: version.flavor, version: version.version }, 'connected to the local mysqld');
  const passwords = new SecretPasswords(config, log);
  // The agent's password as the Secret has it now: in a rolling restart after it changed, the
  // updated pods' accounts have the new one (their init SQL), and hand-overs go to them.
  const connectPeer = (peer: Peer) =>
    new LocalServer({
      host: peer.host,
      port: config.mysql.port,
      user: config.agent.user,
      password: passwords.current().agent,
      node: peer.name,
      tls: caFile ? { verify: true, caFile } : undefined,
    });
  const peerSet = await peerSetFor(config, log);
  const others = () => peerSet.current.filter((peer) => peer.name !== config.pod.name);
  const peerControl = { client: agentClient, agentPort: config.http.port, token: config.switchoverToken };
  const copyUnavailable = copyUnavailableReason(dialect);
  const streamedCopy =
    dialect.adoptCopiedGtids === null || copyUnavailable !== null
      ? null
      : new StreamedCopy({
          node: config.pod.name,
          server,
          client: agentClient,
          agentPort: config.http.port,
          token: config.switchoverToken,
          adoptGtids: dialect.adoptCopiedGtids,
        });
  if (copyUnavailable !== null) log.warn({ flavor: dialect.flavor }, `reinit is not possible on this node: ${copyUnavailable}`);
  loop = new AgentLoop({
    config,
    dialect,
    copyUnavailable,
    observer: new MysqlObserver(server, dialect, [config.agent.user, config.adminUser], config.timings.statusTimeoutMs),
    lease: leaseKeeper,
    watcher: new PrimaryPositionWatcher({ client: agentClient, agentPort: config.http.port, log, onReady: () => loop?.wake() }),
    actuator: new Actuator({
      server,
      dialect,
      config,
      lease: leaseKeeper,
      connectPeer,
      connectLocal: () => new LocalServer(localServerOptions),
      nudge: (candidate) => nudgePeers(candidate, others(), peerControl, NUDGE_TIMEOUT_MS),
      passwords,
      clock,
      streamedCopy,
      reportCopy: (progress) => {
        const running = board.current.runningAction;
        if (running === null) return;
        if (running.progress?.stage !== progress.stage || running.progress.step !== progress.step)
          log.info({ ...progress }, `copy from ${progress.donor}: ${progress.step ?? progress.stage}`);
        board.publish({ runningAction: { ...running, progress } });
      },
    }),
    peers: peerSet,
    observePeers: (timeoutOf) => observePeers(agentClient, others(), config.http.port, config.switchoverToken, timeoutOf),
    readPrimaryGtids: (primary) => readPrimaryGtids(agentClient, primary, config.http.port, PRIMARY_GTIDS_TIMEOUT_MS),
    askFailsafe: (timeoutMs) => askFailsafe(others(), config.pod.name, peerControl, timeoutMs),
    metrics,
    rolePublisher: await rolePublisherFor(config, log),
    log,
    board,
    controls,
    clock,
  });
  loop.start();
  if (tlsFiles) {
    const reloader = new CertificateReloader(
      tlsFiles,
      async () => {
        const https = app.server as HttpsServer;
        https.setSecureContext(servingCertificate(tlsFiles));
        // Kept-alive connections were verified with the old certificate: peers connect again and verify the new one.
        https.closeIdleConnections();
        agentClient.reloadCa();
        await server.query(dialect.reloadTls);
      },
      log,
    );
    void reloader.check();
    setInterval(() => void reloader.check(), CERTIFICATE_CHECK_MS).unref();
  }
  // Runs until a signal arrives.
  return new Promise<number>(() => undefined);
}
