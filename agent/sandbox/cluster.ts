import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentError } from '../errors.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { findPrimary, waitHealthy } from './agents.ts';
import { caFileOf, ensurePodCertificates } from './certificates.ts';
import { type ClusterFile, describeCluster, readClusterFile, writeClusterFile } from './cluster-file.ts';
import { EtcdProcess } from './etcd-process.ts';
import { HaproxyProcess } from './haproxy-process.ts';
import { planCluster, readOrWriteSecrets, type SecretName, writePeersFile } from './plan.ts';
import { AGENT_PORT, isRunning, MYSQL_PORT, SandboxPod, type SandboxPodSpec } from './pod.ts';
import { assertPortsFree, serverVersion } from './probes.ts';
import type { ServerRuntime } from './runtime.ts';

// Names other modules have always imported from here.
export { type AgentReply, agentGet } from './agents.ts';
export type { ClusterFile } from './cluster-file.ts';
export { AGENT_PORT, MYSQL_PORT } from './pod.ts';

const DEFAULT_ADDRESS_PREFIX = '127.0.10.';

export interface SandboxOptions {
  flavor: Flavor;
  replicas: number;
  /** Absolute directory of the sandbox. */
  dir: string;
  runtime: ServerRuntime;
  addressPrefix?: string;
  /** Extra agent settings for every pod. */
  env?: Record<string, string>;
  /** Builds each pod (tests pass a subclass with helpers). */
  createPod?: (spec: SandboxPodSpec, runtime: ServerRuntime) => SandboxPod;
}

/**
 * A whole cluster on one machine: N pods (mysqld + agent), etcd for their lease and HAProxy
 * in front. Each part's work is in its own module; this puts them together.
 */
export class SandboxCluster {
  readonly options: SandboxOptions;
  readonly pods: SandboxPod[];
  readonly secrets: Record<SecretName, string>;
  /** etcd, where the agents keep their leader lease. */
  readonly etcd: EtcdProcess;
  readonly haproxy: HaproxyProcess;
  version: string | null = null;

  constructor(options: SandboxOptions) {
    this.options = { ...options, dir: resolve(options.dir) };
    const prefix = this.addressPrefix;
    mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    const secretFiles = readOrWriteSecrets(this.options.dir);
    this.secrets = Object.fromEntries(Object.entries(secretFiles).map(([name, file]) => [name, readFileSync(file, 'utf8')])) as Record<SecretName, string>;
    const createPod = options.createPod ?? ((spec, runtime) => new SandboxPod(spec, runtime));
    this.haproxy = new HaproxyProcess(`${prefix}100`, this.options.dir);
    this.etcd = new EtcdProcess(`${prefix}200`, this.options.dir);
    this.pods = planCluster({ ...this.options, addressPrefix: prefix, etcdEndpoint: this.etcdEndpoint }, secretFiles).map((spec) =>
      createPod(spec, options.runtime),
    );
  }

  get addressPrefix(): string {
    return this.options.addressPrefix ?? DEFAULT_ADDRESS_PREFIX;
  }

  get haproxyAddress(): string {
    return this.haproxy.address;
  }

  get etcdAddress(): string {
    return this.etcd.address;
  }

  get etcdEndpoint(): string {
    return this.etcd.endpoint;
  }

  get haproxyPid(): number | undefined {
    return this.haproxy.pid;
  }

  set haproxyPid(pid: number | undefined) {
    this.haproxy.pid = pid;
  }

  get etcdPid(): number | undefined {
    return this.etcd.pid;
  }

  set etcdPid(pid: number | undefined) {
    this.etcd.pid = pid;
  }

  get dir(): string {
    return this.options.dir;
  }

  get flavor(): Flavor {
    return this.options.flavor;
  }

  pod(name: string): SandboxPod {
    const pod = this.pods.find((candidate) => candidate.name === name);
    if (!pod) throw new AgentError('SANDBOX_POD_UNKNOWN', `no pod named ${name} in this sandbox (pods: ${this.pods.map((p) => p.name).join(', ')})`);
    return pod;
  }

  /** The pod whose agent answers /primary with 200 (the lease holder), once there is one. */
  primary(timeoutMs = 30_000): Promise<SandboxPod> {
    return findPrimary(this.pods, timeoutMs);
  }

  /** Refuses addresses another process holds, before anything is started. */
  async checkAddressesFree(withHaproxy: boolean): Promise<void> {
    for (const pod of this.pods) await assertPortsFree(pod.spec, [MYSQL_PORT, AGENT_PORT]);
    await this.etcd.assertAddressFree();
    if (withHaproxy) await this.haproxy.assertAddressFree();
  }

  /** The init container's work for every pod (`pods`: all of them), and data dirs on first start. */
  async prepare(pods = this.pods): Promise<void> {
    ensurePodCertificates(
      this.dir,
      pods.map((pod) => ({ name: pod.name, address: pod.spec.address, tlsDir: pod.paths.tls })),
    );
    writePeersFile(this.dir, this.pods);
    await Promise.all(
      pods.map(async (pod) => {
        await pod.stage();
        await pod.initialize();
      }),
    );
  }

  /**
   * `kubectl scale` for the sandbox: new pods are prepared and started (a new replica copies the
   * primary when it purged what the replica needs); removed ones, the highest ordinals, are
   * stopped as Kubernetes deletes them (a primary hands over first) and keep their data, as a
   * StatefulSet keeps their volumes. The peers file, which every agent reads, and HAProxy follow.
   */
  async scale(replicas: number, timeoutMs: number): Promise<void> {
    const current = this.pods.length;
    if (replicas > current) {
      const added = planCluster({ ...this.options, replicas, addressPrefix: this.addressPrefix, etcdEndpoint: this.etcdEndpoint }, readOrWriteSecrets(this.dir))
        .slice(current)
        .map((spec) => (this.options.createPod ?? ((s, runtime) => new SandboxPod(s, runtime)))(spec, this.options.runtime));
      for (const pod of added) await assertPortsFree(pod.spec, [MYSQL_PORT, AGENT_PORT]);
      this.pods.push(...added);
      await this.prepare(added);
      for (const pod of added) this.startPod(pod);
    } else {
      const removed = this.pods.splice(replicas);
      writePeersFile(this.dir, this.pods);
      for (const pod of removed.reverse()) await this.stopPod(pod);
    }
    this.options.replicas = replicas;
    await this.haproxy.reload(this.#haproxyPods(), caFileOf(this.dir));
    this.save();
    await this.waitHealthy(timeoutMs);
    await this.waitHaproxySettled(timeoutMs);
  }

  #haproxyPods(): Array<{ name: string; host: string }> {
    return this.pods.map((pod) => ({ name: pod.name, host: pod.spec.address }));
  }

  startPod(pod: SandboxPod): void {
    if (!isRunning(pod.mysqldPid)) pod.startMysqld(MYSQL_PORT);
    if (!isRunning(pod.agentPid)) pod.startAgent();
  }

  /**
   * As Kubernetes deletes a pod: the agent first (a primary's agent hands its lease over while
   * mysqld still serves, as the server container's preStop hook lets it), then mysqld.
   */
  async stopPod(pod: SandboxPod): Promise<void> {
    await pod.stopAgent('SIGTERM');
    await pod.stopMysqld('SIGTERM');
  }

  /** Every process of the pod SIGKILLed at once, as when its node is lost. */
  async crashPod(pod: SandboxPod): Promise<void> {
    await Promise.all([pod.stopAgent('SIGKILL'), pod.stopMysqld('SIGKILL')]);
  }

  /** A one-member etcd for the agents' lease; its data stays in DIR/etcd. */
  startEtcd(timeoutMs = 30_000): Promise<void> {
    return this.etcd.start(timeoutMs);
  }

  stopEtcd(): Promise<void> {
    return this.etcd.stop();
  }

  get haproxyConfigPath(): string {
    return this.haproxy.configPath;
  }

  /** Renders haproxy.cfg for these pods, checks it with `haproxy -c`, and starts HAProxy. */
  startHaproxy(): Promise<void> {
    return this.haproxy.start(this.#haproxyPods(), caFileOf(this.dir));
  }

  /** Until HAProxy agrees with the (healthy) agents: every pod readable, exactly one writable. */
  waitHaproxySettled(timeoutMs: number): Promise<void> {
    return this.haproxy.waitSettled(this.pods.length, timeoutMs);
  }

  stopHaproxy(): Promise<void> {
    return this.haproxy.stop();
  }

  /** Until every agent says healthy; on timeout the error lists what each agent reports. */
  waitHealthy(timeoutMs: number): Promise<void> {
    return waitHealthy(this.pods, timeoutMs, this.dir);
  }

  /** Reads the servers' version (from the primary) for describe(). */
  async readVersion(primary: SandboxPod): Promise<void> {
    this.version = await serverVersion(primary);
  }

  describe(): ClusterFile {
    return describeCluster({
      runtime: 'processes',
      flavor: this.flavor,
      version: this.version,
      addressPrefix: this.addressPrefix,
      pods: this.pods.map((pod) => ({ name: pod.name, address: pod.spec.address, pid: { mysqld: pod.mysqldPid, agent: pod.agentPid } })),
      caFile: caFileOf(this.dir),
      haproxyAddress: this.haproxyAddress,
      haproxyPid: this.haproxyPid,
      etcdEndpoint: this.etcdEndpoint,
      etcdPid: this.etcdPid,
      secrets: this.secrets,
    });
  }

  save(): void {
    writeClusterFile(this.dir, this.describe());
  }

  /** Stops every process this sandbox started; `purge` also deletes its data. */
  async down(purge: boolean): Promise<void> {
    await this.stopHaproxy();
    await Promise.all(this.pods.map((pod) => this.stopPod(pod)));
    await this.stopEtcd();
    if (purge) rmSync(this.dir, { recursive: true, force: true });
    else this.save();
  }

  /** Reattaches to a sandbox from its cluster.json (SANDBOX_NOT_FOUND when DIR has none). */
  static load(dir: string, runtime: (flavor: Flavor) => ServerRuntime): SandboxCluster {
    const saved = readClusterFile(dir);
    const cluster = new SandboxCluster({
      flavor: saved.flavor,
      replicas: saved.pods.length,
      dir,
      runtime: runtime(saved.flavor),
      addressPrefix: saved.addressPrefix,
    });
    cluster.version = saved.version;
    cluster.haproxyPid = saved.haproxy.pid ?? undefined;
    cluster.etcdPid = saved.etcd?.pid ?? undefined;
    saved.pods.forEach((pod, i) => {
      cluster.pods[i]!.mysqldPid = pod.pid.mysqld ?? undefined;
      cluster.pods[i]!.agentPid = pod.pid.agent ?? undefined;
    });
    return cluster;
  }
}
