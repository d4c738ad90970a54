// `mysql-ha-agent switchover` and `status`, the real CLI process, against real agent apps on
// loopback serving HTTPS as with MYSQL_HA_TLS_DIR: it finds the primary from every agent's
// /status and hands the request to that agent's loop (played here by the test: the loop's own
// path is covered in agent-loop.test.ts and end to end).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { LeaseHistoryEntry } from '../../agent/coordination/lease.ts';
import { buildApp } from '../../agent/http/app.ts';
import { AgentMetrics } from '../../agent/http/metrics.ts';
import { ControlInbox, type ReinitOutcome, type RestartOutcome, type SwitchoverOutcome } from '../../agent/loop/controls.ts';
import { SnapshotBoard } from '../../agent/loop/snapshot.ts';
import { DEFAULT_TAGS, type FailoverRequest, type Observation, type ReinitRequest, type SwitchoverRequest, type Topology } from '../../agent/loop/state.ts';
import { issueCertificate } from '../../agent/sandbox/certificates.ts';
import { type KubeObject, selfSignedCertificate, startFakeKubeApi } from '../support/fake-kube-api.ts';
import { freePort } from '../support/free-port.ts';
import { asPrimary, asReplica, NOW, OTHER, observed, observedAsPrimary, streaming, UUID0, up, variables } from '../support/observations.ts';

const run = promisify(execFile);
const TOKEN = 'cli-test-token';
const HOSTS = ['127.0.14.11', '127.0.14.12', '127.0.14.13'];
const CERTIFICATES = mkdtempSync(join(tmpdir(), 'mysql-ha-cli-tls-'));
const CA_FILE = join(CERTIFICATES, 'ca', 'ca.crt');
/** What every agent's lease store says in these tests. */
const HISTORY: LeaseHistoryEntry[] = [
  {
    term: 1,
    holder: 'mysql-ha-0',
    from: null,
    at: Date.parse('2026-12-01T01:00:00Z'),
    how: 'election',
    reason: 'new cluster: mysql-ha-0 takes the first lease',
  },
  { term: 2, holder: 'mysql-ha-1', from: 'mysql-ha-0', at: Date.parse('2026-12-01T01:05:00Z'), how: 'hand-over', reason: 'planned hand-over from mysql-ha-0' },
];
let port: number;
const primaryControls = new ControlInbox(false);
const replicaControls = [new ControlInbox(false), new ControlInbox(false)];
const apps: Array<ReturnType<typeof buildApp>> = [];

function agentOn(topology: Topology, observation: Observation, controls: ControlInbox) {
  const settings = {
    pod: { name: topology.self.name, statefulSet: 'mysql-ha', ordinal: 0 },
    maxLagSeconds: 10,
    livenessTimeoutMs: 30_000,
    lossless: true,
    tls: { files: null, requireSecureTransport: false },
  };
  const board = new SnapshotBoard({
    config: { ...settings, switchoverToken: TOKEN },
    topology,
    server: null,
    waitingFor: null,
    observation,
    decision: { state: 'primary-serving', action: { kind: 'none' }, reason: 'serving' },
    actionError: null,
    lastSwitchover: null,
    heartbeatAt: NOW,
    runningAction: null,
    writesStoppedBy: null,
  });
  const tls = { cert: readFileSync(join(CERTIFICATES, 'pods', 'tls.crt')), key: readFileSync(join(CERTIFICATES, 'pods', 'tls.key')) };
  return buildApp({ board, controls, metrics: new AgentMetrics(), now: () => NOW, failsafePromiseMs: 5000, tls, leaseHistory: async () => HISTORY });
}

before(async () => {
  // One certificate for the agents, naming each by the address the CLI asks it at, and by its pod's DNS name.
  issueCertificate(join(CERTIFICATES, 'ca'), join(CERTIFICATES, 'pods'), [...HOSTS, ...HOSTS.map((_, index) => `mysql-ha-${index}.mysql-ha`)]);
  port = await freePort();
  const primary = observedAsPrimary(up({ variables: variables({ readOnly: false, semiSyncSource: true, serverUuid: UUID0 }) }));
  const replica = observed(up({ replica: streaming() }));
  const replicaTopology = (index: number, tags = DEFAULT_TAGS) => ({ ...asReplica, self: { name: `mysql-ha-${index}`, host: HOSTS[index]! }, tags });
  apps.push(
    agentOn(asPrimary, primary, primaryControls),
    agentOn(replicaTopology(1), replica, replicaControls[0]!),
    agentOn(replicaTopology(2, { nofailover: true, failoverPriority: 0, noloadbalance: true }), replica, replicaControls[1]!),
  );
  await Promise.all(apps.map((app, index) => app.listen({ host: HOSTS[index]!, port })));
});

after(async () => {
  await Promise.all(apps.map((app) => app.close()));
  rmSync(CERTIFICATES, { recursive: true, force: true });
});

const agents = () => HOSTS.map((host) => `${host}:${port}`).join(',');

/** Runs the CLI (`args` after the command); its exit code and output. */
async function cli(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['agent/cli.ts', ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Runs the CLI while the primary's loop answers the request it reads with `answer`. */
async function switchover(args: string[], answer: (request: SwitchoverRequest) => SwitchoverOutcome, token: string | null = TOKEN) {
  const read: SwitchoverRequest[] = [];
  const loop = setInterval(() => {
    const request = primaryControls.read().switchover;
    if (request === null) return;
    read.push(request);
    primaryControls.answer(request, answer(request));
  }, 5);
  const { MYSQL_HA_SWITCHOVER_TOKEN: _inherited, ...inherited } = process.env;
  const env = token === null ? inherited : { ...inherited, MYSQL_HA_SWITCHOVER_TOKEN: token };
  try {
    return { ...(await cli(['switchover', '--agents', agents(), '--ca-file', CA_FILE, ...args], env)), read };
  } finally {
    clearInterval(loop);
  }
}

test('switchover CLI: sends the request to the primary it found, and prints the outcome', async () => {
  const result = await switchover(['--to', OTHER.name], (request) => ({ ok: true, from: 'mysql-ha-0', to: request.candidate ?? '?', handoverMs: 640 }));
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.read, [{ candidate: OTHER.name }], 'the primary loop read the requested candidate');
  assert.match(result.stdout, /switchover: mysql-ha-0 → mysql-ha-2; writes stopped on mysql-ha-0 for 640 ms before the lease moved/);
});

test("switchover CLI: a refusal exits 1 with the primary's reason and the error code", async () => {
  const result = await switchover([], () => ({ ok: false, reason: 'no replica can take over (every one is unreachable, down or errant)' }));
  assert.equal(result.code, 1);
  assert.deepEqual(result.read, [{ candidate: null }], 'without --to the primary picks the candidate');
  assert.match(result.stderr, /switchover refused by mysql-ha-0 \(HTTP 409\): no replica can take over/);
  assert.match(result.stderr, /MHA_SWITCHOVER_REFUSED/);
});

test('switchover CLI: without the token it is a usage error (exit 2) and sends nothing', async () => {
  const result = await switchover([], () => ({ ok: false, reason: 'a request reached the primary' }), null);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /set MYSQL_HA_SWITCHOVER_TOKEN/);
  assert.deepEqual(result.read, []);
});

test('status CLI: asks every agent over HTTPS verified with --ca-file; without it, or with another CA, each agent is a row saying why', async () => {
  const verified = await cli(['status', '--agents', agents(), '--ca-file', CA_FILE], process.env);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /^POD +AGENT +ROLE +HEALTH +LAG +TAGS +TERM +PAUSED +REASON$/m);
  assert.match(verified.stdout, /^mysql-ha-0 .* primary +healthy +- +- +1 +no /m);
  assert.match(verified.stdout, /^mysql-ha-2 .* replica +healthy +0s +nofailover,priority=0,noloadbalance /m, 'tags shown where set');
  issueCertificate(join(CERTIFICATES, 'other-ca'), join(CERTIFICATES, 'other'), HOSTS);
  const otherCa = await cli(['status', '--agents', agents(), '--ca-file', join(CERTIFICATES, 'other-ca', 'ca.crt')], process.env);
  assert.equal(otherCa.code, 1);
  for (const host of HOSTS) {
    assert.match(
      otherCa.stdout,
      new RegExp(
        `^\\? +https://${host}:${port} +unknown +UNHEALTHY .*certificate of the agent at ${host}:${port} was refused.*MHA_AGENT_CERTIFICATE_REFUSED`,
        'm',
      ),
    );
  }
  const plain = await cli(['status', '--agents', agents()], process.env);
  assert.equal(plain.code, 1);
  assert.match(plain.stdout, /UNHEALTHY +- +- +- +- +agent unreachable \(other side closed\)/, 'plain HTTP to an agent serving HTTPS');
});

test('pause and resume CLI: every agent at once, one line each; without the token a usage error', async () => {
  const env = { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN };
  const everyAgent = [primaryControls, ...replicaControls];
  const paused = await cli(['pause', '--agents', agents(), '--ca-file', CA_FILE], env);
  assert.equal(paused.code, 0, paused.stderr);
  assert.deepEqual(
    everyAgent.map((controls) => controls.paused),
    [true, true, true],
  );
  assert.equal(paused.stdout.match(/ paused +automatic failover paused on this agent$/gm)?.length, 3, paused.stdout);
  const resumed = await cli(['resume', '--agents', agents(), '--ca-file', CA_FILE], env);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(
    everyAgent.map((controls) => controls.paused),
    [false, false, false],
  );
  const { MYSQL_HA_SWITCHOVER_TOKEN: _inherited, ...withoutToken } = process.env;
  const refused = await cli(['pause', '--agents', agents(), '--ca-file', CA_FILE], withoutToken);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /pause needs the agents' token/);
  assert.deepEqual(
    everyAgent.map((controls) => controls.paused),
    [false, false, false],
  );
});

test('pause CLI: an agent it cannot reach is a FAILED line and exit 1, the others are paused all the same', async () => {
  const env = { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN };
  const unreachable = `127.0.14.19:${port}`;
  const result = await cli(['pause', '--agents', `${agents()},${unreachable}`, '--ca-file', CA_FILE], env);
  assert.equal(result.code, 1);
  assert.match(result.stdout, new RegExp(`^https://${unreachable} +FAILED +agent unreachable`, 'm'));
  assert.equal(primaryControls.paused, true);
  await cli(['resume', '--agents', agents(), '--ca-file', CA_FILE], env);
});

/** Runs `reinit` while mysql-ha-1's loop answers the request it reads with `answer`. */
async function reinit(args: string[], answer: (request: ReinitRequest) => ReinitOutcome) {
  const read: ReinitRequest[] = [];
  const loop = setInterval(() => {
    const request = replicaControls[0]!.read().reinit;
    if (request === null) return;
    read.push(request);
    replicaControls[0]!.answerReinit(request, answer(request));
  }, 5);
  try {
    return { ...(await cli(['reinit', ...args, '--agents', agents(), '--ca-file', CA_FILE], { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN })), read };
  } finally {
    clearInterval(loop);
  }
}

test("reinit CLI: finds the pod's agent by name and asks it, with the donor given", async () => {
  const result = await reinit(['mysql-ha-1', '--from', 'mysql-ha-2'], (request) => ({ ok: true, donor: request.donor ?? '?', reason: 'reinit requested' }));
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.read, [{ donor: 'mysql-ha-2' }]);
  assert.match(result.stdout, /^reinit: mysql-ha-1 copies mysql-ha-2 now/);
});

test('reinit CLI: a refusal exits 1 with the reason and its code; an unknown pod is a usage error', async () => {
  const refused = await reinit(['mysql-ha-1'], () => ({ ok: false, reason: 'mysql-ha-1 is the primary: switch over first' }));
  assert.equal(refused.code, 1);
  assert.deepEqual(refused.read, [{ donor: null }], 'without --from the agent picks the donor');
  assert.match(refused.stderr, /reinit refused by mysql-ha-1 \(HTTP 409\): mysql-ha-1 is the primary: switch over first/);
  assert.match(refused.stderr, /MHA_REINIT_REFUSED/);
  const unknown = await reinit(['mysql-ha-7'], () => ({ ok: true, donor: '?', reason: '' }));
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no agent answers for mysql-ha-7 \(pods that answered: mysql-ha-0, mysql-ha-1, mysql-ha-2\)/);
  assert.deepEqual(unknown.read, []);
});

/** Runs `restart POD` while every pod's loop answers the restart it reads with `restarted`. */
async function restart(pod: string, restarted: () => RestartOutcome) {
  const asked: string[] = [];
  const everyPod = [primaryControls, ...replicaControls];
  const loop = setInterval(() => {
    everyPod.forEach((controls, index) => {
      const request = controls.read().restart;
      if (request === null) return;
      asked.push(`restart on mysql-ha-${index}`);
      controls.answerRestart(request, restarted());
    });
  }, 5);
  try {
    return { ...(await cli(['restart', pod, '--agents', agents(), '--ca-file', CA_FILE], { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN })), asked };
  } finally {
    clearInterval(loop);
  }
}

// The primary's path (a switchover, then the restart once it follows) runs against real servers in test/e2e/sandbox-suite.ts.
test('restart CLI: a replica is restarted at once; a refusal exits 1 with its reason', async () => {
  const replica = await restart('mysql-ha-2', () => ({ ok: true, restartMs: 2300, reason: 'restart requested' }));
  assert.equal(replica.code, 0, replica.stderr);
  assert.deepEqual(replica.asked, ['restart on mysql-ha-2']);
  assert.match(replica.stdout, /^restart: mysqld of mysql-ha-2 restarted in 2300 ms; it rejoins as a replica$/m);

  const refused = await restart('mysql-ha-1', () => ({ ok: false, reason: 'mysql-ha-1 is busy: copying mysql-ha-2' }));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /restart refused by mysql-ha-1 \(HTTP 409\): mysql-ha-1 is busy: copying mysql-ha-2/);
  assert.match(refused.stderr, /MHA_RESTART_REFUSED/);
});

test("in a pod (kubectl exec POD -c agent -- mysql-ha-agent list): the agent's own peers, CA and token file; no flags needed", async () => {
  const tokenFile = join(CERTIFICATES, 'switchover-token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const { MYSQL_HA_SWITCHOVER_TOKEN: _inherited, ...inherited } = process.env;
  // The agent container's environment, as the StatefulSet gives it.
  const pod = {
    ...inherited,
    POD_NAME: 'mysql-ha-1',
    MYSQL_HA_PEERS: HOSTS.map((host, index) => `mysql-ha-${index}=${host}`).join(','),
    MYSQL_HA_HTTP_PORT: String(port),
    MYSQL_HA_TLS_DIR: join(CERTIFICATES, 'pods'),
    MYSQL_HA_SWITCHOVER_TOKEN_FILE: tokenFile,
    MYSQL_HA_AGENT_PASSWORD: 'agent-secret',
    MYSQL_HA_REPLICATION_PASSWORD: 'replication-secret',
    MYSQL_HA_APP_PASSWORD: 'app-secret',
  };
  const result = await cli(['list'], pod);
  assert.equal(result.code, 0, result.stderr);
  for (const [index, host] of HOSTS.entries()) assert.match(result.stdout, new RegExp(`^mysql-ha-${index} +https://${host}:${port} `, 'm'));
  // With the token its reasons are shown, not withheld.
  assert.doesNotMatch(result.stdout, /withheld/);
  const outside = await cli(['list'], inherited);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /or run it in a pod: kubectl exec POD -c agent -- mysql-ha-agent COMMAND/);
});

test("history CLI: the lease store's changes of holder through the first agent that answers, oldest first, with their reasons", async () => {
  const env = { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN };
  const result = await cli(['history', '--agents', `127.0.14.19:${port},${agents()}`, '--ca-file', CA_FILE], env);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.match(lines[0]!, /^TERM +AT +FROM +TO +HOW +REASON$/);
  assert.match(lines[1]!, /^1 +2026-12-01T01:00:00.000Z +- +mysql-ha-0 +election +new cluster: mysql-ha-0 takes the first lease$/);
  assert.match(lines[2]!, /^2 +2026-12-01T01:05:00.000Z +mysql-ha-0 +mysql-ha-1 +hand-over +planned hand-over from mysql-ha-0$/);
  const json = await cli(['history', '--agents', agents(), '--ca-file', CA_FILE, '--json'], env);
  assert.deepEqual(JSON.parse(json.stdout), HISTORY);
  const nobody = await cli(['history', '--agents', `127.0.14.19:${port}`, '--ca-file', CA_FILE], env);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /history: no agent gave the lease history:\n +https:\/\/127\.0\.14\.19:\d+: agent unreachable/);
});

test("failover CLI: needs --to; a refusal by the pod's agent exits 1 with the reason (what would be lost) and its code", async () => {
  const env = { ...process.env, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN };
  const withoutTo = await cli(['failover', '--agents', agents(), '--ca-file', CA_FILE], env);
  assert.equal(withoutTo.code, 2);
  assert.match(withoutTo.stderr, /failover needs --to POD/);
  const read: FailoverRequest[] = [];
  const loop = setInterval(() => {
    const request = replicaControls[1]!.read().failover;
    if (request === null) return;
    read.push(request);
    replicaControls[1]!.answerFailover(request, { ok: false, reason: 'mysql-ha-1 has 3 transaction(s) this node lacks: they would be lost' });
  }, 5);
  try {
    const refused = await cli(['failover', '--to', 'mysql-ha-2', '--agents', agents(), '--ca-file', CA_FILE], env);
    assert.equal(refused.code, 1);
    assert.deepEqual(read, [{ force: false }]);
    assert.match(refused.stderr, /failover to mysql-ha-2 refused \(HTTP 409\): mysql-ha-1 has 3 transaction\(s\) this node lacks/);
    assert.match(refused.stderr, /MHA_FAILOVER_REFUSED/);
    await cli(['failover', '--to', 'mysql-ha-2', '--force', '--agents', agents(), '--ca-file', CA_FILE], env);
    assert.deepEqual(read.at(-1), { force: true });
  } finally {
    clearInterval(loop);
  }
});

test('list CLI with --kubernetes: the pods come from the API with the kubeconfig, each agent reached at its pod IP with its DNS name verified', async () => {
  const labels = { 'app.kubernetes.io/name': 'mysql-ha', 'app.kubernetes.io/component': 'database' };
  const pod = (index: number, ip: string | null, subdomain = 'mysql-ha', podLabels: Record<string, string> = labels): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `mysql-ha-${index}`, namespace: 'databases', labels: podLabels },
    spec: { hostname: `mysql-ha-${index}`, subdomain, containers: [{ name: 'agent', ports: [{ name: 'agent', containerPort: port }] }] },
    status: ip === null ? { phase: 'Pending' } : { phase: 'Running', podIP: ip },
  });
  // HTTPS, as a real API server serves (the client refuses plain HTTP), its CA in the kubeconfig.
  const apiCertificate = selfSignedCertificate(mkdtempSync(join(CERTIFICATES, 'api-')));
  const api = await startFakeKubeApi({
    tls: apiCertificate,
    token: 'kube-token',
    user: 'jane',
    objects: [...HOSTS.map((host, index) => pod(index, host)), pod(7, '127.0.14.99', 'mysql-ha', { 'app.kubernetes.io/name': 'other' })],
  });
  const kubeconfig = join(CERTIFICATES, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(apiCertificate.cert).toString('base64') } }],
      users: [{ name: 'jane', user: { token: 'kube-token' } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'jane', namespace: 'databases' } }],
      'current-context': 'test',
    }),
  );
  const { MYSQL_HA_SWITCHOVER_TOKEN: _inherited, ...inherited } = process.env;
  const env = { ...inherited, KUBECONFIG: kubeconfig, MYSQL_HA_SWITCHOVER_TOKEN: TOKEN };
  try {
    const found = await cli(['list', '--kubernetes', '--ca-file', CA_FILE], env);
    assert.equal(found.code, 0, found.stderr);
    for (const [index, host] of HOSTS.entries())
      assert.match(found.stdout, new RegExp(`^mysql-ha-${index} +https://${host}:${port} +(primary|replica) +healthy `, 'm'));
    assert.doesNotMatch(found.stdout, /127\.0\.14\.99/, 'a pod the selector does not pick');
    assert.ok(
      api.requests.some((request) => request.path === '/api/v1/namespaces/databases/pods'),
      "the kubeconfig context's namespace",
    );

    // A pod that is pending has no IP; one whose certificate does not name it is refused: each a row saying why.
    api.seed(pod(3, null), { ...pod(4, '127.0.14.11', 'elsewhere'), metadata: { ...pod(4, null).metadata, name: 'mysql-ha-4' } });
    const partial = await cli(['list', '--kubernetes', '-n', 'databases', '--ca-file', CA_FILE], env);
    assert.equal(partial.code, 1);
    assert.match(partial.stdout, /^\? +https:\/\/mysql-ha-3\.mysql-ha:\d+ +unknown +UNHEALTHY .*agent unreachable/m);
    assert.match(partial.stdout, /^\? +https:\/\/127\.0\.14\.11:\d+ +unknown +UNHEALTHY .*certificate of the agent .* was refused/m);

    const none = await cli(['list', '--kubernetes', '--namespace', 'empty'], env);
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /no pods labelled app\.kubernetes\.io\/name=mysql-ha,app\.kubernetes\.io\/component=database in namespace empty .*MHA_KUBERNETES_DISCOVERY_FAILED/s,
    );
    api.deny('list', 'pods');
    const denied = await cli(['history', '--kubernetes'], env);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /cannot list the pods labelled .* in namespace databases .*403 Forbidden: pods is forbidden: User "jane" cannot list/s);
  } finally {
    await api.close();
  }
});
