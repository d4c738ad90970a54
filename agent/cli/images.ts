import { SERVER_VARIANTS } from '../containers/base-images.ts';
import { buildImages, serverVariant } from '../containers/images.ts';
import { ensurePrerequisites } from '../sandbox/install.ts';
import { parseCommandLine } from './args.ts';

export const help = `usage: mysql-ha-agent images [--flavor mysql|mariadb|all] [--version V]
Builds the agent image (and for MariaDB, the agent on the server's base, with mariadb-backup) and the server images with Docker Engine (installing Debian's docker.io
and starting dockerd when there is none), on local base images made from Debian packages.
Servers: ${SERVER_VARIANTS.map((variant) => `${variant.flavor} ${variant.version} (Debian ${variant.suite})`).join(', ')}. Default: all.`;

const progress = (line: string) => process.stderr.write(`mysql-ha-agent: ${line}\n`);
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('images', {
    args,
    options: { flavor: { type: 'string', default: 'all' }, version: { type: 'string' } },
  });
  const variants = values.flavor === 'all' && values.version === undefined ? SERVER_VARIANTS : [serverVariant(values.flavor!, values.version)];
  // debootstrap, and the MySQL chroot the MySQL base image is made from.
  await ensurePrerequisites({ flavors: variants.some((variant) => variant.flavor === 'mysql') ? ['mysql'] : [], debootstrap: true }, progress);
  const built = await buildImages(variants, { infra: true }, progress);
  const lines = [
    `${built.agent.tag}  ${megabytes(built.agent.bytes)} (${megabytes(built.agent.layerBytes)} on its Node base)`,
    ...built.agentsWithServerTools.map((agent) => `${agent.tag}  ${megabytes(agent.bytes)} (on its server's base, mariadb-backup ${agent.toolVersion})`),
    ...built.servers.map((server) => `${server.tag}  ${megabytes(server.bytes)} (server ${server.serverVersion})`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
