// Local base images, made from Debian packages, for a machine that cannot pull the official
// ones (no registry here). They follow what the Dockerfiles rely on in the official images:
// node at /usr/local/bin with npm beside it, user node (uid 1000); mysqld or mariadbd on PATH,
// user mysql (uid 999) owning /var/lib/mysql.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { DEFAULT_MYSQL_CHROOT } from '../sandbox/runtime.ts';
import { dockerSucceeds, dockerVisible } from './docker.ts';

const run = promisify(execFile);
const CACHE = '/var/cache/mysql-ha-agent';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A database server as a Debian suite ships it; `version` is checked against what the suite really has. */
export interface ServerVariant {
  flavor: Flavor;
  version: string;
  suite: string;
  /**
   * The server, and what the official images carry too: the client (the sandbox creates its
   * administrator with it) and, for MariaDB, mariadb-backup (the MariaDB agent image's copies).
   */
  packages: string[];
}

/** MySQL 8.4 is in no Debian suite, so no local image can carry it. */
export const SERVER_VARIANTS: readonly ServerVariant[] = [
  { flavor: 'mysql', version: '9.7', suite: 'sid', packages: ['mysql-server-core', 'mysql-client-core'] },
  { flavor: 'mariadb', version: '11.8', suite: 'trixie', packages: ['mariadb-server-core', 'mariadb-client-core', 'mariadb-backup'] },
  { flavor: 'mariadb', version: '10.11', suite: 'bookworm', packages: ['mariadb-server-core', 'mariadb-client-core', 'mariadb-backup'] },
];

/** The node binary the project runs on (the `node` npm package), and npm from this machine's own install. */
function nodeVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('node/package.json') as { version: string }).version;
}

export const NODE_BASE_IMAGE = `mysql-ha-base/node:${nodeVersion()}-bookworm`;
/** etcd and HAProxy for the container sandbox: Debian bookworm's etcd-server 3.4 and haproxy 2.6. */
export const INFRA_BASE_IMAGE = 'mysql-ha-base/infra:bookworm';
const INFRA_PACKAGES = ['haproxy', 'etcd-server'];
export const serverBaseImage = (variant: ServerVariant) => `mysql-ha-base/${variant.flavor}:${variant.suite}`;

interface BaseImage {
  tag: string;
  /** Where its root file system is kept between builds. */
  rootfs: string;
  suite: string;
  packages: string[];
  /** Runs in the finished root file system, before it is imported. */
  customize(rootfs: string): Promise<void>;
}

async function inChroot(rootfs: string, script: string): Promise<void> {
  try {
    await run('chroot', [rootfs, 'sh', '-ec', script], { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new AgentError('IMAGE_BUILD_FAILED', `preparing the base image in ${rootfs} failed: ${stderr?.trim() || (error as Error).message}`, { cause: error });
  }
}

/** Installs what a cached root file system lacks (the sandbox's MySQL chroot has no client). */
async function installMissing(rootfs: string, packages: string[]): Promise<void> {
  await inChroot(
    rootfs,
    `missing=; for p in ${packages.join(' ')}; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done; ` +
      // A mirror's Release file may be past its Valid-Until (seen here for sid): the packages are still signed.
      '[ -z "$missing" ] || { apt-get -o Acquire::Check-Valid-Until=false update -q && ' +
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; }',
  );
}

/** The official server images' conventions: user mysql (uid 999) owns the data, socket and import directories. */
async function prepareServer(rootfs: string, packages: string[]): Promise<void> {
  await installMissing(rootfs, packages);
  await inChroot(
    rootfs,
    'getent group mysql >/dev/null || groupadd --system --gid 999 mysql; ' +
      'id mysql >/dev/null 2>&1 || useradd --system --uid 999 --gid 999 --home-dir /var/lib/mysql --shell /usr/sbin/nologin mysql; ' +
      '[ "$(id -u mysql)" = 999 ] || { echo "user mysql exists with uid $(id -u mysql), not 999" >&2; exit 1; }; ' +
      'mkdir -p /var/lib/mysql /var/lib/mysql-files /run/mysqld && chown mysql:mysql /var/lib/mysql /var/lib/mysql-files /run/mysqld',
  );
}

async function addNode(rootfs: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const nodeBinary = join(dirname(require.resolve('node/package.json')), 'bin', 'node');
  const { stdout: npmRoot } = await run('npm', ['root', '-g']);
  mkdirSync(join(rootfs, 'usr/local/lib/node_modules'), { recursive: true });
  cpSync(nodeBinary, join(rootfs, 'usr/local/bin/node'));
  cpSync(join(npmRoot.trim(), 'npm'), join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true, dereference: true });
  for (const tool of ['npm', 'npx']) {
    rmSync(join(rootfs, 'usr/local/bin', tool), { force: true });
    symlinkSync(`../lib/node_modules/npm/bin/${tool}-cli.js`, join(rootfs, 'usr/local/bin', tool));
  }
  await inChroot(rootfs, 'id node >/dev/null 2>&1 || { groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home --shell /bin/sh node; }');
}

function baseImages(variants: readonly ServerVariant[], infra: boolean): BaseImage[] {
  const images: BaseImage[] = [{ tag: NODE_BASE_IMAGE, rootfs: `${CACHE}/rootfs/node-bookworm`, suite: 'bookworm', packages: [], customize: addNode }];
  for (const variant of variants) {
    images.push({
      tag: serverBaseImage(variant),
      // The MySQL one is the sandbox's own chroot (sandbox install makes it): one download, not two.
      rootfs: variant.flavor === 'mysql' && variant.suite === 'sid' ? DEFAULT_MYSQL_CHROOT : `${CACHE}/rootfs/${variant.flavor}-${variant.suite}`,
      suite: variant.suite,
      packages: variant.packages,
      customize: (rootfs) => prepareServer(rootfs, variant.packages),
    });
  }
  if (infra)
    images.push({
      tag: INFRA_BASE_IMAGE,
      rootfs: `${CACHE}/rootfs/infra-bookworm`,
      suite: 'bookworm',
      packages: INFRA_PACKAGES,
      customize: (rootfs) => installMissing(rootfs, INFRA_PACKAGES),
    });
  return images;
}

async function debootstrap(image: BaseImage, progress: (line: string) => void): Promise<void> {
  if (existsSync(join(image.rootfs, 'usr/bin'))) return;
  const partial = `${image.rootfs}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(`${CACHE}/debs`, { recursive: true });
  progress(`debootstrap ${image.suite} ${image.packages.join(' ') || '(minimal)'} into ${image.rootfs} (a minute or two; kept for later builds)`);
  const include = image.packages.length > 0 ? [`--include=${image.packages.join(',')}`] : [];
  try {
    await run('debootstrap', ['--variant=minbase', `--cache-dir=${CACHE}/debs`, ...include, image.suite, partial], { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    throw new AgentError('IMAGE_BUILD_FAILED', `debootstrap ${image.suite} failed: ${stdout?.trim().split('\n').slice(-3).join(' / ')}`, {
      cause: error,
      hint: "debootstrap needs Debian's package archive (deb.debian.org) and root; read its log in the partial directory: debootstrap/debootstrap.log",
    });
  }
  // Renamed only when complete: an interrupted download is never mistaken for a good one.
  renameSync(partial, image.rootfs);
}

/** `tar` of a root file system, without what Docker provides itself or what only apt needed. */
function tarOf(rootfs: string): NodeJS.ReadableStream {
  const excluded = [
    './proc/*',
    './sys/*',
    './dev/*',
    './var/cache/apt/archives/*.deb',
    './var/cache/apt/*.bin',
    './var/lib/apt/lists/*',
    './usr/share/doc/*',
    './usr/share/man/*',
  ];
  const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', ...excluded.map((pattern) => `--exclude=${pattern}`), '-c', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return tar.stdout;
}

/**
 * Every base image the chosen servers need and Docker lacks: debootstrap (cached in
 * /var/cache/mysql-ha-agent/rootfs), make it look like the official image, `docker import`.
 */
export async function ensureBaseImages(variants: readonly ServerVariant[], infra: boolean, progress: (line: string) => void): Promise<void> {
  for (const image of baseImages(variants, infra)) {
    if (await dockerSucceeds(['image', 'inspect', image.tag])) continue;
    await debootstrap(image, progress);
    await image.customize(image.rootfs);
    progress(`importing ${image.rootfs} as ${image.tag}`);
    await dockerVisible(['import', '--change', `ENV ${PATH_ENV}`, '--change', 'CMD ["sh"]', '-', image.tag], tarOf(image.rootfs));
  }
}
