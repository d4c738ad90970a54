// `npm run images`: the agent image and one server image per database server, built with
// Docker Engine from Dockerfile.agent and Dockerfile.mysql on local base images.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';
import { packageRoot } from '../package-root.ts';
import { ensureBaseImages, NODE_BASE_IMAGE, SERVER_VARIANTS, type ServerVariant, serverBaseImage } from './base-images.ts';
import { docker, dockerSucceeds, dockerVisible, ensureDockerEngine } from './docker.ts';

const run = promisify(execFile);
/** The build context: the package's root. */
const ROOT = `${packageRoot()}/`;
const packageVersion = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;

export const AGENT_IMAGE = `mysql-ha/agent:${packageVersion}`;
export const serverImage = (variant: ServerVariant) => `mysql-ha/${variant.flavor}:${variant.version}`;

/**
 * The agent image a pod of this server runs. MariaDB's copies another pod with mariadb-backup,
 * which must be the server's own version: Dockerfile.agent's with-server-tools target, built on
 * the server's base image. MySQL clones inside the server and needs no tools beside the agent.
 */
export function agentImage(variant: ServerVariant): string {
  return variant.flavor === 'mariadb' ? `${AGENT_IMAGE}-mariadb-${variant.version}` : AGENT_IMAGE;
}

/** The variant `sandbox up --runtime docker` and the tests run for a flavour when no version is named. */
export function serverVariant(flavor: string, version?: string): ServerVariant {
  const matches = SERVER_VARIANTS.filter((variant) => variant.flavor === flavor && (version === undefined || variant.version === version));
  const found = matches[0];
  if (!found) {
    const known = SERVER_VARIANTS.map((variant) => `${variant.flavor} ${variant.version}`).join(', ');
    throw new AgentError('USAGE', `no server image for ${flavor}${version ? ` ${version}` : ''}: images exist for ${known} (MySQL 8.4 is in no Debian suite)`);
  }
  return found;
}

/**
 * The CA bundle npm trusts on this machine (`npm config get cafile`): a TLS-intercepting proxy
 * between the build and the npm registry signs with it. Passed as a build secret, so it is in
 * no layer of any image.
 */
async function npmCaFile(): Promise<string | undefined> {
  const fromEnv = process.env.MYSQL_HA_BUILD_CA_FILE;
  if (fromEnv) return fromEnv;
  try {
    const { stdout } = await run('npm', ['config', 'get', 'cafile']);
    const file = stdout.trim();
    return file && file !== 'null' && file !== 'undefined' && existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes of an image, as `docker image inspect` counts them. */
export async function imageSize(tag: string): Promise<number> {
  return Number(await docker(['image', 'inspect', '--format', '{{.Size}}', tag]));
}

/** The server's own version string, from the image (e.g. "9.7.0" or "11.8.3-MariaDB-1"). */
async function serverVersionIn(image: string, variant: ServerVariant): Promise<string> {
  const server = variant.flavor === 'mariadb' ? 'mariadbd' : 'mysqld';
  const output = await docker(['run', '--rm', '--entrypoint', server, image, '--version']);
  return /Ver\s+(\S+)/.exec(output)?.[1] ?? output;
}

export interface BuiltImages {
  agent: { tag: string; bytes: number; layerBytes: number };
  /** The agent on a server's base image (MariaDB's, with mariadb-backup), and that tool's version. */
  agentsWithServerTools: Array<{ tag: string; bytes: number; toolVersion: string }>;
  servers: Array<{ tag: string; bytes: number; serverVersion: string }>;
}

/** mariadb-backup's version in the image: the server's, or a copy could not be prepared by it. */
async function backupToolVersionIn(image: string, variant: ServerVariant): Promise<string> {
  const output = await docker(['run', '--rm', '--entrypoint', 'mariadb-backup', image, '--version'], { withStderr: true }).catch((error: unknown) => {
    throw new AgentError('IMAGE_BUILD_FAILED', `${image} cannot run mariadb-backup: ${(error as Error).message}`, {
      hint: `its base ${serverBaseImage(variant)} lacks Debian's mariadb-backup package (an image imported before it was added): docker rmi ${serverBaseImage(variant)}, then build again`,
    });
  });
  const version = /based on MariaDB server (\S+)/.exec(output)?.[1] ?? /Ver\s+(\S+)/.exec(output)?.[1] ?? output;
  if (!version.startsWith(`${variant.version}.`))
    throw new AgentError('IMAGE_BUILD_FAILED', `${image} carries mariadb-backup ${version}, not the server's ${variant.version}`);
  return version;
}

/**
 * Builds the agent image and the server images for `variants` (base images first, when
 * Docker lacks them). Docker's build cache makes a build with nothing changed take seconds.
 */
export async function buildImages(variants: readonly ServerVariant[], options: { infra: boolean }, progress: (line: string) => void): Promise<BuiltImages> {
  await ensureDockerEngine(progress);
  await ensureBaseImages(variants, options.infra, progress);

  const ca = await npmCaFile();
  progress(`building ${AGENT_IMAGE} from Dockerfile.agent on ${NODE_BASE_IMAGE}${ca ? ` (npm's CA ${ca} as a build secret)` : ''}`);
  await dockerVisible([
    'build',
    '--file',
    `${ROOT}Dockerfile.agent`,
    '--build-arg',
    `NODE_IMAGE=${NODE_BASE_IMAGE}`,
    ...(ca ? ['--secret', `id=npm-ca,src=${ca}`] : []),
    '--tag',
    AGENT_IMAGE,
    ROOT,
  ]);
  const agentBytes = await imageSize(AGENT_IMAGE);
  const built: BuiltImages = {
    agent: { tag: AGENT_IMAGE, bytes: agentBytes, layerBytes: agentBytes - (await imageSize(NODE_BASE_IMAGE)) },
    agentsWithServerTools: [],
    servers: [],
  };

  for (const variant of variants.filter((candidate) => agentImage(candidate) !== AGENT_IMAGE)) {
    const tag = agentImage(variant);
    progress(`building ${tag} from Dockerfile.agent (target with-server-tools) on ${serverBaseImage(variant)}`);
    await dockerVisible([
      'build',
      '--file',
      `${ROOT}Dockerfile.agent`,
      '--target',
      'with-server-tools',
      '--build-arg',
      `NODE_IMAGE=${NODE_BASE_IMAGE}`,
      '--build-arg',
      `SERVER_IMAGE=${serverBaseImage(variant)}`,
      ...(ca ? ['--secret', `id=npm-ca,src=${ca}`] : []),
      '--tag',
      tag,
      ROOT,
    ]);
    built.agentsWithServerTools.push({ tag, bytes: await imageSize(tag), toolVersion: await backupToolVersionIn(tag, variant) });
  }

  for (const variant of variants) {
    const tag = serverImage(variant);
    progress(`building ${tag} from Dockerfile.mysql on ${serverBaseImage(variant)}`);
    await dockerVisible(['build', '--file', `${ROOT}Dockerfile.mysql`, '--build-arg', `BASE_IMAGE=${serverBaseImage(variant)}`, '--tag', tag, ROOT]);
    const serverVersion = await serverVersionIn(tag, variant);
    if (!serverVersion.startsWith(`${variant.version}.`)) {
      throw new AgentError('IMAGE_BUILD_FAILED', `Debian ${variant.suite} now ships ${variant.flavor} ${serverVersion}, not ${variant.version}`, {
        hint: `update SERVER_VARIANTS in agent/containers/base-images.ts and the overlays in examples/mysql and examples/mariadb to ${serverVersion.split('.').slice(0, 2).join('.')}`,
      });
    }
    built.servers.push({ tag, bytes: await imageSize(tag), serverVersion });
  }
  return built;
}

/** Whether every image `variants` need is built, so a test can tell a missing image from a failure. */
export async function imagesPresent(variants: readonly ServerVariant[]): Promise<boolean> {
  for (const tag of new Set([AGENT_IMAGE, ...variants.map(agentImage), ...variants.map(serverImage)]))
    if (!(await dockerSucceeds(['image', 'inspect', tag]))) return false;
  return true;
}
