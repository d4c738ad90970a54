// A container sandbox for the tests (agent/containers/sandbox.ts), with the same handles on
// its pods as the process sandbox's TestPod: the agent over HTTP, the server as the administrator (over
// the socket in the pod's run volume) and as the application.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_VARIANTS } from '../../agent/containers/base-images.ts';
import { docker } from '../../agent/containers/docker.ts';
import { buildImages, serverVariant } from '../../agent/containers/images.ts';
import { ContainerPod, ContainerSandbox } from '../../agent/containers/sandbox.ts';
import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import { findPrimary, waitHealthy } from '../../agent/sandbox/agents.ts';
import { waitHaproxySettled } from '../../agent/sandbox/haproxy-process.ts';
import { ensurePrerequisites } from '../../agent/sandbox/install.ts';
import { withTestClients } from './cluster.ts';
import type { CheckedCluster } from './failover-checks.ts';

export class ContainerTestPod extends withTestClients(ContainerPod) {
  /** The last `lines` lines a container of this pod printed (stdout and stderr). */
  async logs(container: 'mysql' | 'agent', lines = 200): Promise<string> {
    return docker(['logs', '--tail', String(lines), this.containers[container]], { withStderr: true }).catch((error: Error) => error.message);
  }
}

/**
 * The images the container suites run: built once per machine (Docker's cache makes a
 * rebuild with nothing changed take seconds), the way `npm run images` builds them.
 */
export async function buildTestImages(flavor: Flavor, log = (line: string) => console.log(`# images: ${line}`)): Promise<void> {
  const variant = serverVariant(flavor);
  await ensurePrerequisites({ flavors: variant.flavor === 'mysql' ? ['mysql'] : [], debootstrap: true }, log);
  const built = await buildImages(
    SERVER_VARIANTS.filter((candidate) => candidate === variant),
    { infra: true },
    log,
  );
  log(`${built.agent.tag} ${(built.agent.bytes / 1e6).toFixed(1)} MB, ${(built.agent.layerBytes / 1e6).toFixed(1)} MB on its Node base`);
  for (const server of built.servers) log(`${server.tag} ${(server.bytes / 1e6).toFixed(1)} MB (${server.serverVersion})`);
}

export class ContainerTestCluster implements CheckedCluster<ContainerTestPod> {
  readonly sandbox: ContainerSandbox;

  private constructor(sandbox: ContainerSandbox) {
    this.sandbox = sandbox;
  }

  /** A cluster of `replicas` pods in containers, up and healthy, HAProxy settled. */
  static async start(
    flavor: Flavor,
    options: {
      addressPrefix: string;
      env?: Record<string, string>;
      replicas?: number;
      agentVolumes?: string[];
      /** Runs once the sandbox's network exists (its gateway given), before any pod starts. */
      prepare?: (sandbox: ContainerSandbox, gateway: string) => Promise<void>;
      /** Where the sandbox's progress lines go (the test's output by default). */
      progress?: (line: string) => void;
    },
  ): Promise<ContainerTestCluster> {
    const sandbox = new ContainerSandbox({
      flavor,
      replicas: options.replicas ?? 3,
      dir: mkdtempSync(join(tmpdir(), `mysql-ha-containers-${flavor}-`)),
      addressPrefix: options.addressPrefix,
      env: { ...options.env },
      agentVolumes: options.agentVolumes,
      createPod: (...args) => new ContainerTestPod(...args),
    });
    const cluster = new ContainerTestCluster(sandbox);
    try {
      await options.prepare?.(sandbox, await sandbox.ensureNetwork());
      await sandbox.up(options.progress ?? ((line) => console.log(`# sandbox: ${line}`)));
    } catch (error) {
      console.log(await cluster.logs());
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  get flavor(): Flavor {
    return this.sandbox.flavor;
  }

  get pods(): ContainerTestPod[] {
    return this.sandbox.pods as ContainerTestPod[];
  }

  currentPrimary(timeoutMs = 60_000): Promise<ContainerTestPod> {
    return findPrimary(this.pods, timeoutMs);
  }

  async waitHealthy(timeoutMs = 90_000): Promise<void> {
    try {
      await waitHealthy(this.pods, timeoutMs, this.sandbox.dir);
      await waitHaproxySettled(this.sandbox.haproxyAddress, this.pods.length, 30_000, `docker logs ${this.sandbox.id}-haproxy`);
    } catch (error) {
      // What each agent decided, and what its containers said last: the containers go with the sandbox.
      const decisions = await Promise.all(this.pods.map(async (pod) => `${pod.name}: ${JSON.stringify((await pod.statusOrUndefined())?.decision)}`));
      console.log(`# decisions:\n${decisions.join('\n')}\n${await this.logs(30)}`);
      throw error;
    }
  }

  /** Every pod's recent container logs, for a failure's diagnosis. */
  async logs(lines = 40): Promise<string> {
    const parts = await Promise.all(
      this.pods.flatMap((pod) => (['mysql', 'agent'] as const).map(async (container) => `--- ${pod.name} ${container}\n${await pod.logs(container, lines)}`)),
    );
    return parts.join('\n');
  }

  async destroy(): Promise<void> {
    if (!process.env.KEEP_TEST_DATA) await this.sandbox.down(true);
  }
}
