// Runs the real haproxy on the rendered config against fake pods on loopback addresses,
// to show that the health checks route traffic the way the config's comments say.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HaproxyConfigOptions, renderHaproxyConfig } from '../../agent/haproxy/config.ts';
import { issueCertificate } from '../../agent/sandbox/certificates.ts';
import { FakeSrvDns } from '../support/fake-dns.ts';
import { FakeMysqlPod } from '../support/fake-mysql-pod.ts';
import { freePorts } from '../support/free-port.ts';
import { haproxyBinary } from '../support/tools.ts';

const maxLagSeconds = 10;

/** Connects and reads the pod name the fake mysqld sends; undefined if HAProxy closes first (no server up). */
function openSession(port: number): Promise<{ name: string | undefined; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\n')) resolve({ name: data.split('\n')[0], socket });
    });
    socket.on('close', () => resolve({ name: undefined, socket }));
    socket.on('error', reject);
  });
}

async function whoAnswers(port: number): Promise<string | undefined> {
  const { name, socket } = await openSession(port);
  socket.destroy();
  return name;
}

/** `timeoutMs` is a deadline of this test harness (a broken config fails instead of hanging), not a performance bound. */
async function waitFor(description: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs}ms waiting until ${description}`);
    await sleep(50);
  }
}

interface Ports {
  write: number;
  read: number;
  stats: number;
}

/** The real haproxy on a rendered config (given the ports it gets), with its stats page read as data. */
class RunningHaproxy {
  readonly ports: Ports;
  readonly #process: ChildProcess;
  readonly #dir: string;
  #output = '';

  private constructor(ports: Ports, dir: string, process: ChildProcess) {
    this.ports = ports;
    this.#dir = dir;
    this.#process = process;
    for (const stream of [process.stdout!, process.stderr!]) {
      stream.on('data', (chunk) => {
        this.#output += chunk;
      });
    }
  }

  /** On loopback, with free ports and the lag limit of these tests. */
  static async start(options: Omit<HaproxyConfigOptions, 'writePort' | 'readPort' | 'statsPort' | 'bindAddress' | 'maxLagSeconds'>): Promise<RunningHaproxy> {
    const [write, read, stats] = (await freePorts(3)) as [number, number, number];
    const ports = { write, read, stats };
    const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-routing-'));
    const file = join(dir, 'haproxy.cfg');
    const config = renderHaproxyConfig({
      ...options,
      writePort: ports.write,
      readPort: ports.read,
      statsPort: ports.stats,
      bindAddress: '127.0.0.1',
      maxLagSeconds,
    });
    writeFileSync(file, config);
    const haproxy = new RunningHaproxy(ports, dir, spawn(haproxyBinary(), ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await waitFor('the stats page answers', 10_000, () =>
      haproxy.serverStates().then(
        () => true,
        () => false,
      ),
    );
    return haproxy;
  }

  /** Server states per backend from the stats page, e.g. { 'mysql-primary/mysql-ha-0': 'UP' }. */
  async serverStates(): Promise<Record<string, string>> {
    const response = await fetch(`http://127.0.0.1:${this.ports.stats}/stats;csv`);
    const [header, ...rows] = (await response.text()).trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const status = columns.indexOf('status');
    return Object.fromEntries(rows.map((row) => row.split(',')).map((cells) => [`${cells[0]}/${cells[1]}`, cells[status]!]));
  }

  async waitForStates(expected: Record<string, string>): Promise<void> {
    let last: Record<string, string> = {};
    try {
      await waitFor(`servers are ${JSON.stringify(expected)}`, 10_000, async () => {
        last = await this.serverStates();
        return Object.entries(expected).every(([server, state]) => last[server] === state);
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(last)}\nhaproxy output:\n${this.#output}`);
    }
  }

  async stop(): Promise<void> {
    if (this.#process.exitCode === null) {
      this.#process.kill('SIGTERM');
      await once(this.#process, 'exit');
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Who answers `count` fresh connections to `port`. */
async function answering(port: number, count: number): Promise<Set<string | undefined>> {
  const names = [];
  for (let i = 0; i < count; i += 1) names.push(await whoAnswers(port));
  return new Set(names);
}

/** All pods share one mysqld port and one agent port, on their own loopback addresses, as pods do. */
async function listenTogether(pods: FakeMysqlPod[]): Promise<{ mysqlPort: number; agentPort: number }> {
  const first = await pods[0]!.listen(0, 0);
  for (const pod of pods.slice(1)) await pod.listen(first.mysqlPort, first.agentPort);
  return first;
}

describe("haproxy routes by the agents' answers", () => {
  const pods = [
    new FakeMysqlPod('mysql-ha-0', '127.0.0.2', 'primary'),
    new FakeMysqlPod('mysql-ha-1', '127.0.0.3', 'replica'),
    new FakeMysqlPod('mysql-ha-2', '127.0.0.4', 'replica'),
  ];
  let haproxy: RunningHaproxy;
  let ports: Ports;
  const waitForStates = (expected: Record<string, string>) => haproxy.waitForStates(expected);

  before(async () => {
    const first = await listenTogether(pods);
    haproxy = await RunningHaproxy.start({
      pods: pods.map((pod) => ({ name: pod.name, host: pod.address })),
      mysqlPort: first.mysqlPort,
      agentPort: first.agentPort,
    });
    ports = haproxy.ports;
  });

  after(async () => {
    await haproxy?.stop();
    await Promise.all(pods.map((pod) => pod.close()));
  });

  it('sends every write to the primary and spreads reads over primary and replicas', async () => {
    await waitForStates({
      'mysql-primary/mysql-ha-0': 'UP',
      'mysql-primary/mysql-ha-1': 'DOWN',
      'mysql-primary/mysql-ha-2': 'DOWN',
      'mysql-readable/mysql-ha-0': 'UP',
      'mysql-readable/mysql-ha-1': 'UP',
      'mysql-readable/mysql-ha-2': 'UP',
    });
    const writes = [];
    for (let i = 0; i < 6; i += 1) writes.push(await whoAnswers(ports.write));
    assert.deepEqual(new Set(writes), new Set(['mysql-ha-0']));
    const reads = [];
    for (let i = 0; i < 6; i += 1) reads.push(await whoAnswers(ports.read));
    assert.deepEqual(new Set(reads), new Set(['mysql-ha-0', 'mysql-ha-1', 'mysql-ha-2']));
  });

  it('asks the agents for reads within the configured lag, and skips a lagging replica', async () => {
    assert.ok(pods[1]!.agentRequests.includes(`/read-only?lag=${maxLagSeconds}`), pods[1]!.agentRequests.join(', '));
    assert.ok(pods[1]!.agentRequests.includes('/primary'));
    pods[2]!.lagging = true;
    await waitForStates({ 'mysql-readable/mysql-ha-2': 'DOWN' });
    const reads = [];
    for (let i = 0; i < 6; i += 1) reads.push(await whoAnswers(ports.read));
    assert.deepEqual(new Set(reads), new Set(['mysql-ha-0', 'mysql-ha-1']));
    pods[2]!.lagging = false;
    await waitForStates({ 'mysql-readable/mysql-ha-2': 'UP' });
  });

  it('moves writes to a new primary once the agents say so, and closes the sessions on the old one', async () => {
    // How fast this happens is measured by the benchmark (bench/run.ts), not asserted here.
    const held = await openSession(ports.write);
    assert.equal(held.name, 'mysql-ha-0');
    const closed = once(held.socket, 'close');

    pods[0]!.role = 'replica';
    pods[1]!.role = 'primary';
    await waitForStates({ 'mysql-primary/mysql-ha-0': 'DOWN', 'mysql-primary/mysql-ha-1': 'UP', 'mysql-primary/mysql-ha-2': 'DOWN' });
    // on-marked-down shutdown-sessions: the session on the old primary does not outlive its demotion.
    await closed;
    const writes = [];
    for (let i = 0; i < 4; i += 1) writes.push(await whoAnswers(ports.write));
    assert.deepEqual(new Set(writes), new Set(['mysql-ha-1']));
    // The old primary still serves reads, as a replica within the lag limit.
    await waitForStates({ 'mysql-readable/mysql-ha-0': 'UP' });
  });

  it('refuses writes while no pod is primary, rather than sending them to a replica', async () => {
    pods[1]!.role = 'replica';
    await waitForStates({ 'mysql-primary/mysql-ha-0': 'DOWN', 'mysql-primary/mysql-ha-1': 'DOWN', 'mysql-primary/mysql-ha-2': 'DOWN' });
    assert.equal(await whoAnswers(ports.write), undefined);
    assert.notEqual(await whoAnswers(ports.read), undefined);
  });
});

describe("haproxy finds the pods through the headless Service's DNS SRV record (the Kubernetes config)", () => {
  const record = '_mysql._tcp.mysql-ha.test.svc.cluster.local';
  const pods = [
    new FakeMysqlPod('mysql-ha-0', '127.0.0.5', 'primary'),
    new FakeMysqlPod('mysql-ha-1', '127.0.0.6', 'replica'),
    new FakeMysqlPod('mysql-ha-2', '127.0.0.7', 'replica'),
  ];
  const inDns = (count: number) => pods.slice(0, count).map((pod) => ({ target: `${pod.name}.mysql-ha.test.svc.cluster.local`, address: pod.address }));
  let dns: FakeSrvDns;
  let haproxy: RunningHaproxy;

  before(async () => {
    const first = await listenTogether(pods);
    dns = await FakeSrvDns.start(record, first.mysqlPort);
    dns.pods = inDns(2);
    haproxy = await RunningHaproxy.start({
      pods: [],
      srv: { record, slots: 4, prefix: 'mysql-ha-slot' },
      kubernetes: true,
      dnsServer: dns.address,
      agentPort: first.agentPort,
    });
  });

  after(async () => {
    await haproxy?.stop();
    await dns?.close();
    await Promise.all(pods.map((pod) => pod.close()));
  });

  it('routes to the pods the record lists; scaled up, the new pod gets reads; scaled down, the removed one gets none', async () => {
    // Servers found by DNS are checked like any other: until then nothing is asserted.
    const writesToPrimaryOnly = async () => [...(await answering(haproxy.ports.write, 4))].join() === 'mysql-ha-0';
    await waitFor(
      'the listed pods found and checked',
      15_000,
      async () => (await answering(haproxy.ports.read, 6)).size === 2 && (await writesToPrimaryOnly()),
    );
    assert.deepEqual(await answering(haproxy.ports.read, 6), new Set(['mysql-ha-0', 'mysql-ha-1']));
    assert.ok(
      dns.queries.some((query) => query === `SRV ${record}`),
      `HAProxy asked ${dns.queries.slice(0, 5).join(', ')}`,
    );

    dns.pods = inDns(3);
    await waitFor('the added pod serving reads', 15_000, async () => (await answering(haproxy.ports.read, 6)).has('mysql-ha-2'));
    await waitFor('writes still to the primary only', 15_000, writesToPrimaryOnly);

    dns.pods = [inDns(3)[0]!, inDns(3)[2]!];
    await waitFor('the removed pod out of the read rotation', 30_000, async () => !(await answering(haproxy.ports.read, 6)).has('mysql-ha-1'));
    assert.deepEqual(await answering(haproxy.ports.read, 6), new Set(['mysql-ha-0', 'mysql-ha-2']));
  });
});

describe('haproxy checks agents that serve HTTPS (MYSQL_HA_TLS_DIR): only certificates of the CA that name the pod count', () => {
  const record = '_mysql._tcp.mysql-ha.tls.svc.cluster.local';
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-routing-tls-'));
  const hostOf = (name: string) => `${name}.mysql-ha.tls.svc.cluster.local`;
  /** A certificate for `names` from the CA in `caDir`, as the pod's agent would serve it. */
  const certificate = (caDir: string, pod: string, names: string[]) => {
    issueCertificate(join(dir, caDir), join(dir, pod), names);
    return { cert: readFileSync(join(dir, pod, 'tls.crt')), key: readFileSync(join(dir, pod, 'tls.key')) };
  };
  const pods = [
    new FakeMysqlPod('mysql-ha-0', '127.0.0.8', 'primary', certificate('ca', 'mysql-ha-0', [hostOf('mysql-ha-0')])),
    new FakeMysqlPod('mysql-ha-1', '127.0.0.9', 'replica', certificate('ca', 'mysql-ha-1', [hostOf('mysql-ha-1')])),
    // Signed by another CA: a pod that is not ours, whatever it answers.
    new FakeMysqlPod('mysql-ha-2', '127.0.0.10', 'replica', certificate('other-ca', 'mysql-ha-2', [hostOf('mysql-ha-2')])),
    // Our CA, but the certificate of another pod.
    new FakeMysqlPod('mysql-ha-3', '127.0.0.11', 'replica', certificate('ca', 'mysql-ha-3', [hostOf('mysql-ha-0')])),
    // Plain HTTP: no certificate at all.
    new FakeMysqlPod('mysql-ha-4', '127.0.0.12', 'replica'),
  ];
  let dns: FakeSrvDns;
  let haproxy: RunningHaproxy;

  before(async () => {
    const first = await listenTogether(pods);
    // Pods by name, as in the manifests: the names HAProxy checks the certificates for.
    dns = await FakeSrvDns.start(record, first.mysqlPort);
    dns.pods = pods.map((pod) => ({ target: hostOf(pod.name), address: pod.address }));
    haproxy = await RunningHaproxy.start({
      pods: pods.map((pod) => ({ name: pod.name, host: hostOf(pod.name) })),
      kubernetes: true,
      dnsServer: dns.address,
      mysqlPort: first.mysqlPort,
      agentPort: first.agentPort,
      agentCaFile: join(dir, 'ca', 'ca.crt'),
    });
  });

  after(async () => {
    await haproxy?.stop();
    await dns?.close();
    await Promise.all(pods.map((pod) => pod.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('routes writes and reads to the verified agents, and nothing to the one of another CA, with another name or without TLS', async () => {
    await haproxy.waitForStates({
      'mysql-primary/mysql-ha-0': 'UP',
      'mysql-readable/mysql-ha-0': 'UP',
      'mysql-readable/mysql-ha-1': 'UP',
      'mysql-readable/mysql-ha-2': 'DOWN',
      'mysql-readable/mysql-ha-3': 'DOWN',
      'mysql-readable/mysql-ha-4': 'DOWN',
    });
    assert.deepEqual(await answering(haproxy.ports.write, 4), new Set(['mysql-ha-0']));
    assert.deepEqual(await answering(haproxy.ports.read, 8), new Set(['mysql-ha-0', 'mysql-ha-1']));
    // They were asked (their certificate was refused, not their address unknown) and never answered a check.
    for (const pod of pods.slice(2)) assert.deepEqual(pod.agentRequests, [], `${pod.name} answered a check`);
  });
});
