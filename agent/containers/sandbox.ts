// `sandbox up --runtime docker`: each pod as Kubernetes runs it, in containers. A pod is a
// network-namespace holder (Kubernetes' pause container) answering to `<pod>.<service>` on
// a Docker network of the sandbox's own, the `stage` init container, then the server and the
// agent containers in that namespace, restarted by Docker when they exit (restartPolicy:
// Always). Volumes are directories of the sandbox (data, conf, init, run); secrets are files
// mounted read-only. etcd and HAProxy run in containers too; HAProxy finds the pods through
// Docker's DNS, as it does through the cluster DNS in the manifests.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AgentError } from '../errors.ts';
import { haproxyDefaults, renderHaproxyConfig } from '../haproxy/config.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { manifestEnv } from '../pod/manifest-env.ts';
import { podName } from '../pod/ordinal.ts';
import { findPrimary, waitHealthy } from '../sandbox/agents.ts';
import { caDirOf, caFileOf, issueCertificate } from '../sandbox/certificates.ts';
import { type ClusterFile, describeCluster, writeClusterFile } from '../sandbox/cluster-file.ts';
import { ETCD_CLIENT_PORT } from '../sandbox/etcd-process.ts';
import { waitHaproxySettled } from '../sandbox/haproxy-process.ts';
import { readOrWriteSecrets, type SecretName } from '../sandbox/plan.ts';
import { AGENT_PORT, MYSQL_PORT } from '../sandbox/pod.ts';
import { serverVersion } from '../sandbox/probes.ts';
import { INFRA_BASE_IMAGE } from './base-images.ts';
import { docker, dockerSucceeds, ensureDockerEngine } from './docker.ts';
import { agentImage, imagesPresent, serverImage, serverVariant } from './images.ts';

const STATEFUL_SET = 'mysql-ha';
const LABEL = 'io.mysql-ha.sandbox';
/** The uid and gid both images run as (user mysql of the server image), as the manifests' securityContext sets. */
const POD_USER = 999;
const DEFAULT_ADDRESS_PREFIX = '127.0.16.';
/** The manifests' terminationGracePeriodSeconds. */
const GRACE_SECONDS = 60;
/** The server container's preStop hook, where Dockerfile.mysql puts it (manifests/statefulset.yaml runs it). */
const PRE_STOP_HOOK = '/usr/local/bin/mysql-ha-pre-stop.sh';

/** Where the certificate Secret is mounted (examples/tls sets MYSQL_HA_TLS_DIR to it). */
const TLS_MOUNT = '/etc/mysql-ha/tls';
/** Where HAProxy's container finds the CA it verifies the agents with. */
const HAPROXY_CA_FILE = '/etc/haproxy/ca.crt';

/** Where the pods' Secret is mounted, with its keys as file names (as manifests/agent.env names them). */
const SECRETS_MOUNT = '/etc/mysql-ha/secrets';
const SECRET_KEYS: Record<SecretName, string> = {
  agent: 'agent-password',
  replication: 'replication-password',
  app: 'app-password',
  admin: 'admin-password',
  switchover: 'switchover-token',
};

export interface ContainerSandboxOptions {
  flavor: Flavor;
  /** The server version (an image `npm run images` built); default: the flavour's first. */
  version?: string;
  replicas: number;
  /** Absolute directory of the sandbox. */
  dir: string;
  /** Host loopback addresses the pods' ports are published on: `${prefix}1..N`, HAProxy `${prefix}100`, etcd `${prefix}200`. */
  addressPrefix?: string;
  /** Extra agent settings for every pod (on top of manifests/agent.env). */
  env?: Record<string, string>;
  /** More volumes (docker --volume specs) for the `stage` and agent containers, e.g. a service-account directory. */
  agentVolumes?: string[];
  /** Builds each pod's handle (tests pass a subclass with helpers). */
  createPod?: (sandboxId: string, name: string, address: string, dir: string, secretFiles: Record<SecretName, string>, caFile: string) => ContainerPod;
}

/** One pod's containers, and where this machine reaches it. */
export class ContainerPod {
  readonly name: string;
  readonly spec: { address: string; dir: string };
  readonly containers: { pod: string; mysql: string; agent: string };
  /** The sandbox's CA, which signed the pods' certificate. */
  readonly caFile: string;
  readonly #secretFiles: Record<SecretName, string>;

  constructor(sandboxId: string, name: string, address: string, dir: string, secretFiles: Record<SecretName, string>, caFile: string) {
    this.name = name;
    this.spec = { address, dir };
    this.#secretFiles = secretFiles;
    this.caFile = caFile;
    this.containers = { pod: `${sandboxId}-${name}`, mysql: `${sandboxId}-${name}-mysql`, agent: `${sandboxId}-${name}-agent` };
  }

  /** The pod's DNS name on the sandbox network, as on the headless Service. */
  get host(): string {
    return `${this.name}.${STATEFUL_SET}`;
  }

  /** Its certificate names it by its DNS name; this machine reaches it by its address. */
  get certificateName(): string {
    return this.host;
  }

  /** The administrator's password, as the pod's Secret holds it. */
  get adminPassword(): string {
    return readFileSync(this.#secretFiles.admin, 'utf8');
  }

  /** The agents' token, as the pod's Secret holds it. */
  get switchoverToken(): string {
    return readFileSync(this.#secretFiles.switchover, 'utf8');
  }

  /** Volumes as directories of the sandbox; the server's socket is in run/, reachable from this machine. */
  get paths(): { data: string; conf: string; init: string; run: string; socket: string } {
    const at = (name: string) => join(this.spec.dir, name);
    return { data: at('data'), conf: at('conf'), init: at('init'), run: at('run'), socket: join(at('run'), 'mysqld.sock') };
  }
}

/**
 * The agents' own lease timings (agent/config.ts), faster than the manifests': the manifests'
 * survive an API-server restart; an etcd on the same machine needs no such margin.
 */
export const SANDBOX_LEASE_TIMINGS = { MYSQL_HA_LEASE_TTL_MS: '5000', MYSQL_HA_RENEW_PERIOD_MS: '1000', MYSQL_HA_STORE_TIMEOUT_MS: '1000' };

/** A running container's main process, as this machine numbers it. */
export const mainProcess = async (container: string) => Number(await docker(['inspect', '--format', '{{.State.Pid}}', container]));

const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]);

export class ContainerSandbox {
  readonly options: ContainerSandboxOptions & { addressPrefix: string };
  /** Names every container, volume and network of this sandbox (from its directory). */
  readonly id: string;
  readonly pods: ContainerPod[];
  readonly secrets: Record<SecretName, string>;
  readonly #secretFiles: Record<SecretName, string>;
  version: string | null = null;

  constructor(options: ContainerSandboxOptions) {
    const dir = resolve(options.dir);
    this.options = { ...options, dir, addressPrefix: options.addressPrefix ?? DEFAULT_ADDRESS_PREFIX };
    this.id = `mysql-ha-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#secretFiles = readOrWriteSecrets(dir);
    this.secrets = Object.fromEntries(Object.entries(this.#secretFiles).map(([name, file]) => [name, readFileSync(file, 'utf8')])) as Record<
      SecretName,
      string
    >;
    const createPod = options.createPod ?? ((...args) => new ContainerPod(...args));
    this.pods = Array.from({ length: options.replicas }, (_, ordinal) => {
      const name = podName(STATEFUL_SET, ordinal);
      return createPod(this.id, name, `${this.options.addressPrefix}${ordinal + 1}`, join(dir, name), this.#secretFiles, caFileOf(dir));
    });
  }

  get dir(): string {
    return this.options.dir;
  }

  get flavor(): Flavor {
    return this.options.flavor;
  }

  get network(): string {
    return this.id;
  }

  get haproxyAddress(): string {
    return `${this.options.addressPrefix}100`;
  }

  get etcdAddress(): string {
    return `${this.options.addressPrefix}200`;
  }

  get serverImage(): string {
    return serverImage(serverVariant(this.flavor, this.options.version));
  }

  /** The agent image for this server (MariaDB's carries mariadb-backup of the server's version). */
  get agentImage(): string {
    return agentImage(serverVariant(this.flavor, this.options.version));
  }

  pod(name: string): ContainerPod {
    const pod = this.pods.find((candidate) => candidate.name === name);
    if (!pod) throw new AgentError('SANDBOX_POD_UNKNOWN', `no pod named ${name} in this sandbox (pods: ${this.pods.map((p) => p.name).join(', ')})`);
    return pod;
  }

  /** Network, etcd, every pod and HAProxy; then waits until every agent is healthy and HAProxy agrees. */
  async up(progress: (line: string) => void): Promise<void> {
    await ensureDockerEngine(progress);
    const variant = serverVariant(this.flavor, this.options.version);
    if (!(await imagesPresent([variant]))) {
      throw new AgentError('IMAGE_MISSING', `the images ${this.agentImage} and ${this.serverImage} are not built`, {
        hint: `build them first: npm run images -- --flavor ${variant.flavor} --version ${variant.version}`,
      });
    }
    this.#writePodSecrets();
    this.#writePodCertificate();
    await this.ensureNetwork();
    // Written first: `sandbox down` finds what a failed start left.
    this.save();
    progress(`starting etcd, ${this.pods.length} pods (stage, then ${this.flavor} and agent containers) and HAProxy on Docker network ${this.network}`);
    await this.#startEtcd();
    await Promise.all(this.pods.map((pod) => this.startPod(pod)));
    await this.#startHaproxy();
    this.save();
    progress('waiting until every pod is healthy');
    await waitHealthy(this.pods, 180_000, this.dir);
    await waitHaproxySettled(this.haproxyAddress, this.pods.length, 30_000, `docker logs ${this.id}-haproxy`);
    const primary = await findPrimary(this.pods, 30_000);
    this.version = await serverVersion(primary);
    this.save();
  }

  /** The sandbox's network, created when missing; returns its gateway, this machine's address on it. */
  async ensureNetwork(): Promise<string> {
    if (!(await dockerSucceeds(['network', 'inspect', this.network]))) await this.#createNetwork();
    return docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', this.network]);
  }

  /**
   * The sandbox's network, with a subnet of its own so that pods get addresses the sandbox
   * chooses (Docker would give a restarted pod its old address back); etcd and HAProxy take
   * theirs from the upper half. Subnets other networks hold are skipped.
   */
  async #createNetwork(): Promise<void> {
    const first = Number.parseInt(this.id.slice(-2), 16);
    for (let attempt = 0; attempt < 32; attempt++) {
      const prefix = `10.213.${(first + attempt) % 256}`;
      try {
        await docker([
          'network',
          'create',
          '--label',
          `${LABEL}=${this.id}`,
          '--subnet',
          `${prefix}.0/24`,
          '--gateway',
          `${prefix}.1`,
          '--ip-range',
          `${prefix}.128/25`,
          this.network,
        ]);
        return;
      } catch (error) {
        if (!/overlap/i.test((error as Error).message)) throw error;
      }
    }
    throw new AgentError('DOCKER_FAILED', 'no free /24 subnet in 10.213.0.0/16 for the sandbox network (32 tried)');
  }

  /** The address a pod gets on the sandbox network: `.10 + ordinal`, or `.60 + ordinal` after a move. */
  async #podAddress(pod: ContainerPod, moved: boolean): Promise<string> {
    const subnet = await docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', this.network]);
    const ordinal = this.pods.indexOf(pod);
    return `${subnet.split('.').slice(0, 3).join('.')}.${(moved ? 60 : 10) + ordinal}`;
  }

  /** The Secret's files as a pod mounts them: readable by the pod's group only (defaultMode 0440, fsGroup 999). */
  #writePodSecrets(): void {
    const dir = join(this.dir, 'pod-secrets');
    mkdirSync(dir, { recursive: true });
    for (const [name, key] of Object.entries(SECRET_KEYS) as Array<[SecretName, string]>) {
      const file = join(dir, key);
      copyFileSync(this.#secretFiles[name], file);
      chownSync(file, 0, POD_USER);
      chmodSync(file, 0o440);
    }
  }

  /**
   * One certificate for every pod, as one Secret serves a StatefulSet (docs/kubernetes.md, "TLS"):
   * it names each pod as its peers reach it, signed by the sandbox's CA; mounted like the Secret.
   */
  #writePodCertificate(): void {
    const dir = join(this.dir, 'pod-tls');
    if (!existsSync(join(dir, 'tls.crt')))
      issueCertificate(
        caDirOf(this.dir),
        dir,
        this.pods.map((pod) => pod.host),
      );
    // The Secret's mount point: every container user may look inside; the files are the group's only.
    chmodSync(dir, 0o755);
    for (const file of ['ca.crt', 'tls.crt', 'tls.key']) {
      chownSync(join(dir, file), 0, POD_USER);
      chmodSync(join(dir, file), 0o440);
    }
  }

  #labels(pod?: string): string[] {
    return ['--label', `${LABEL}=${this.id}`, ...(pod ? ['--label', `${LABEL}.pod=${pod}`] : [])];
  }

  /**
   * Starts the container `name` again when it exists (a stopped pod keeps its containers), or
   * creates it, detached, labelled as this sandbox's, restarted by Docker whenever it exits.
   */
  async #startOrRun(name: string, pod: string | undefined, args: string[]): Promise<void> {
    if (await dockerSucceeds(['container', 'inspect', name])) await docker(['start', name]);
    else await docker(['run', '--detach', '--name', name, ...this.#labels(pod), '--restart', 'always', ...args]);
  }

  async #startEtcd(): Promise<void> {
    const etcdDir = join(this.dir, 'etcd');
    mkdirSync(etcdDir, { recursive: true });
    await this.#startOrRun(`${this.id}-etcd`, undefined, [
      '--network',
      this.network,
      '--network-alias',
      'etcd',
      '--publish',
      `${this.etcdAddress}:${ETCD_CLIENT_PORT}:${ETCD_CLIENT_PORT}`,
      '--volume',
      `${etcdDir}:/var/lib/etcd`,
      INFRA_BASE_IMAGE,
      'etcd',
      '--name',
      'sandbox',
      '--data-dir',
      '/var/lib/etcd/data',
      '--listen-client-urls',
      `http://0.0.0.0:${ETCD_CLIENT_PORT}`,
      '--advertise-client-urls',
      `http://etcd:${ETCD_CLIENT_PORT}`,
      '--listen-peer-urls',
      'http://0.0.0.0:2380',
      '--initial-advertise-peer-urls',
      'http://etcd:2380',
      '--initial-cluster',
      'sandbox=http://etcd:2380',
    ]);
  }

  async #startHaproxy(): Promise<void> {
    const configFile = join(this.dir, 'haproxy.cfg');
    // As in the manifests: pods by their DNS names, resolved at run time (a pod's new IP is followed).
    writeFileSync(
      configFile,
      renderHaproxyConfig({
        pods: this.pods.map((pod) => ({ name: pod.name, host: pod.host })),
        kubernetes: true,
        agentCaFile: HAPROXY_CA_FILE,
        generatedBy: 'mysql-ha-agent sandbox up --runtime docker',
      }),
    );
    const { writePort, readPort, statsPort } = haproxyDefaults;
    await this.#startOrRun(`${this.id}-haproxy`, undefined, [
      '--network',
      this.network,
      ...[writePort, readPort, statsPort].flatMap((port) => ['--publish', `${this.haproxyAddress}:${port}:${port}`]),
      '--volume',
      `${configFile}:/etc/haproxy/haproxy.cfg:ro`,
      '--volume',
      `${caFileOf(this.dir)}:${HAPROXY_CA_FILE}:ro`,
      INFRA_BASE_IMAGE,
      'haproxy',
      '-db',
      '-f',
      '/etc/haproxy/haproxy.cfg',
    ]);
  }

  /** The environment the manifests give `stage` and `run`, with the lease in the sandbox's etcd. */
  #podEnv(pod: ContainerPod): Record<string, string> {
    return {
      ...manifestEnv(),
      ...SANDBOX_LEASE_TIMINGS,
      POD_NAME: pod.name,
      MYSQL_HA_FLAVOR: this.flavor,
      MYSQL_HA_REPLICAS: String(this.pods.length),
      MYSQL_HA_LEASE_BACKEND: 'etcd',
      MYSQL_HA_ETCD_ENDPOINTS: `http://etcd:${ETCD_CLIENT_PORT}`,
      MYSQL_HA_TLS_DIR: TLS_MOUNT,
      ...this.options.env,
    };
  }

  /**
   * Starts a pod as the kubelet does: its network namespace first, then the init container
   * to completion, then the server and agent containers. Containers that exist are started
   * again (a stopped pod keeps its volumes).
   */
  async startPod(pod: ContainerPod, address?: string): Promise<void> {
    const { data, conf, init, run } = pod.paths;
    for (const dir of [data, conf, init, run]) {
      mkdirSync(dir, { recursive: true });
      chownSync(dir, POD_USER, POD_USER);
    }
    await this.#startOrRun(pod.containers.pod, pod.name, [
      '--hostname',
      pod.name,
      '--network',
      this.network,
      '--network-alias',
      pod.host,
      '--ip',
      address ?? (await this.#podAddress(pod, false)),
      '--init',
      ...[MYSQL_PORT, AGENT_PORT].flatMap((port) => ['--publish', `${pod.spec.address}:${port}:${port}`]),
      '--entrypoint',
      'sleep',
      this.agentImage,
      'infinity',
    ]);
    const inPod = ['--network', `container:${pod.containers.pod}`, '--user', `${POD_USER}:${POD_USER}`, '--read-only', '--cap-drop', 'ALL'];
    const secrets = [
      '--volume',
      `${join(this.dir, 'pod-secrets')}:${SECRETS_MOUNT}:ro`,
      '--volume',
      `${join(this.dir, 'pod-tls')}:${TLS_MOUNT}:ro`,
      ...(this.options.agentVolumes ?? []).flatMap((volume) => ['--volume', volume]),
    ];
    const env = envArgs(this.#podEnv(pod));
    await docker([
      'run',
      '--rm',
      ...inPod,
      ...secrets,
      ...env,
      '--volume',
      `${conf}:/etc/mysql-ha/conf.d`,
      '--volume',
      `${init}:/etc/mysql-ha/init`,
      this.agentImage,
      'stage',
      '--conf-dir',
      '/etc/mysql-ha/conf.d',
      '--init-dir',
      '/etc/mysql-ha/init',
    ]);
    for (const [name, args] of [
      [
        pod.containers.mysql,
        [
          '--volume',
          `${data}:/var/lib/mysql`,
          '--volume',
          `${conf}:/etc/mysql-ha/conf.d:ro`,
          '--volume',
          `${init}:/etc/mysql-ha/init:ro`,
          '--volume',
          `${run}:/run/mysqld`,
          '--volume',
          `${join(this.dir, 'pod-tls')}:${TLS_MOUNT}:ro`,
          '--tmpfs',
          '/tmp',
          this.serverImage,
        ],
      ],
      // The run and data volumes too, as in the StatefulSet: the agent tells the server's preStop
      // hook when mysqld may stop; a MariaDB reinit reads and replaces the data files.
      [
        pod.containers.agent,
        [...secrets, ...env, '--volume', `${run}:/var/run/mysqld`, '--volume', `${data}:/var/lib/mysql`, '--tmpfs', '/tmp', this.agentImage, 'run'],
      ],
    ] as const) {
      await this.#startOrRun(name, pod.name, [...inPod, '--stop-timeout', String(GRACE_SECONDS), ...args]);
    }
  }

  /**
   * Stops a pod as the kubelet does when it is deleted: SIGTERM to the agent at once; for the
   * server container, its preStop hook first (the StatefulSet's, run in the container), then
   * SIGTERM; SIGKILL after the grace period. Returns what the hook printed.
   */
  async stopPod(pod: ContainerPod): Promise<string> {
    const stop = (container: string) => docker(['stop', '--time', String(GRACE_SECONDS), container]);
    const [, hook] = await Promise.all([
      stop(pod.containers.agent),
      (async () => {
        // A server container that is not running has no hook to run.
        const printed = await docker(['exec', pod.containers.mysql, PRE_STOP_HOOK], { withStderr: true }).catch((error) => `no preStop hook run: ${error}`);
        await stop(pod.containers.mysql);
        return printed;
      })(),
    ]);
    await docker(['stop', '--time', '1', pod.containers.pod]);
    return hook;
  }

  /** Every process of the pod SIGKILLed at once, as when its node is lost. */
  async crashPod(pod: ContainerPod): Promise<void> {
    // The agent first, alone: one killed with its server (one docker kill) sometimes lived long
    // enough to see the server gone and let its lease go, which a lost node cannot do.
    await docker(['kill', pod.containers.agent]);
    await docker(['kill', pod.containers.mysql, pod.containers.pod]);
  }

  /** SIGKILL to the server process in the pod's server container; Docker restarts the container, as the kubelet would. */
  async killServer(pod: ContainerPod): Promise<void> {
    for (const pid of await this.serverProcesses(pod)) process.kill(pid, 'SIGKILL');
  }

  /** The server's processes in the pod's server container (its entrypoint's children), as this machine numbers them. */
  async serverProcesses(pod: ContainerPod): Promise<number[]> {
    const supervisor = await mainProcess(pod.containers.mysql);
    const children = existsSync(`/proc/${supervisor}/task/${supervisor}/children`)
      ? readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
      : [];
    if (children.length === 0) throw new AgentError('DOCKER_FAILED', `${pod.name}: no server process runs in ${pod.containers.mysql}`);
    return children;
  }

  /** Cuts the pod off the sandbox network (its containers keep running): a network partition. */
  async partition(pod: ContainerPod): Promise<void> {
    await docker(['network', 'disconnect', '--force', this.network, pod.containers.pod]);
  }

  /** Connects a partitioned pod again, under its DNS name and with one of its own addresses. */
  async heal(pod: ContainerPod): Promise<void> {
    const connect = async (moved: boolean) =>
      docker(['network', 'connect', '--alias', pod.host, '--ip', await this.#podAddress(pod, moved), this.network, pod.containers.pod]);
    // The second address when the first is taken (a pod moved by restartWithNewAddress holds it).
    await connect(false).catch(() => connect(true));
  }

  /**
   * Deletes the pod and creates it again, as a rescheduled pod: same name and volumes, new
   * containers with another IP address. Returns both.
   */
  async restartWithNewAddress(pod: ContainerPod): Promise<{ before: string; after: string }> {
    const before = await this.podIp(pod);
    await this.stopPod(pod);
    await docker(['rm', '--force', pod.containers.agent, pod.containers.mysql, pod.containers.pod]);
    const moved = await this.#podAddress(pod, true);
    await this.startPod(pod, moved === before ? await this.#podAddress(pod, false) : moved);
    return { before, after: await this.podIp(pod) };
  }

  /** The pod's address on the sandbox network (empty while it is partitioned). */
  async podIp(pod: ContainerPod): Promise<string> {
    return docker(['inspect', '--format', `{{with index .NetworkSettings.Networks "${this.network}"}}{{.IPAddress}}{{end}}`, pod.containers.pod]);
  }

  describe(): ClusterFile {
    return describeCluster({
      runtime: 'docker',
      flavor: this.flavor,
      version: this.version,
      addressPrefix: this.options.addressPrefix,
      images: { agent: this.agentImage, server: this.serverImage },
      pods: this.pods.map((pod) => ({ name: pod.name, address: pod.spec.address, certificateName: pod.host, containers: pod.containers })),
      caFile: caFileOf(this.dir),
      haproxyAddress: this.haproxyAddress,
      etcdEndpoint: `http://${this.etcdAddress}:${ETCD_CLIENT_PORT}`,
      secrets: this.secrets,
    });
  }

  save(): void {
    writeClusterFile(this.dir, this.describe());
  }

  /** Removes every container and the network of this sandbox; `purge` also deletes its data. */
  async down(purge: boolean): Promise<void> {
    const ids = (await docker(['ps', '--all', '--quiet', '--filter', `label=${LABEL}=${this.id}`])).split('\n').filter(Boolean);
    // Agents first (a stopping agent hands over its lease), then everything else.
    for (const pod of this.pods) {
      if (await dockerSucceeds(['container', 'inspect', pod.containers.agent])) await docker(['stop', '--time', String(GRACE_SECONDS), pod.containers.agent]);
    }
    if (ids.length > 0) await docker(['rm', '--force', '--volumes', ...ids]);
    if (await dockerSucceeds(['network', 'inspect', this.network])) await docker(['network', 'rm', this.network]);
    if (purge) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Reattaches to a container sandbox from its cluster.json. */
  static fromFile(dir: string, saved: ClusterFile): ContainerSandbox {
    const sandbox = new ContainerSandbox({
      flavor: saved.flavor,
      // The server image's tag is its version (mysql-ha/mariadb:11.8).
      version: saved.images?.server.split(':').at(-1),
      replicas: saved.pods.length,
      dir,
      addressPrefix: saved.addressPrefix,
    });
    sandbox.version = saved.version;
    return sandbox;
  }
}
