import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ContainerSandbox } from '../containers/sandbox.ts';
import { AgentError, errorDefs } from '../errors.ts';
import { collectStatus, formatStatusTable } from '../http/status-client.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { SandboxCluster } from '../sandbox/cluster.ts';
import { agentTargetsOf, type ClusterFile, readClusterFile, type SandboxRuntime } from '../sandbox/cluster-file.ts';
import { ensurePrerequisites } from '../sandbox/install.ts';
import { isRunning } from '../sandbox/pod.ts';
import { mysqlRuntime, runtimeFor } from '../sandbox/runtime.ts';
import { openSqlSession, type SqlTarget } from '../sandbox/sql-session.ts';

/** `sandbox --help`, and shown with a mistake in the command line. */
export const help = `usage:
  mysql-ha-agent sandbox up [--flavor mysql|mariadb] [--replicas N] [--dir DIR] [--mysqld PATH]
  mysql-ha-agent sandbox up --runtime docker [--flavor mysql|mariadb] [--version V] [--replicas N] [--dir DIR]
  mysql-ha-agent sandbox status [--dir DIR]
  mysql-ha-agent sandbox kill POD [--dir DIR]     SIGKILL the pod's mysqld (its agent stays; in containers, Docker restarts it)
  mysql-ha-agent sandbox stop POD [--dir DIR]     delete the pod as Kubernetes does: its agent hands over, then SIGTERM
  mysql-ha-agent sandbox crash POD [--dir DIR]    SIGKILL every process of the pod (a node lost)
  mysql-ha-agent sandbox start POD [--dir DIR]
  mysql-ha-agent sandbox partition POD [--dir DIR]   containers only: cut the pod off the network
  mysql-ha-agent sandbox heal POD [--dir DIR]        containers only: connect it again
  mysql-ha-agent sandbox restart POD [--dir DIR]     containers only: stop the pod, start it with a new IP address
  mysql-ha-agent sandbox scale N [--dir DIR]        N pods (1 to 9): new ones join (by a copy when needed), removed ones stop
  mysql-ha-agent sandbox sql [POD | --write | --read] [-e SQL] [--dir DIR]   a SQL session: POD's mysqld as admin, or HAProxy as the app (default --write)
  mysql-ha-agent sandbox down [--dir DIR] [--purge]
  mysql-ha-agent sandbox install [--flavor mysql|mariadb|all]   Debian packages and the MySQL 9.7 chroot
Defaults: --runtime processes, --flavor mysql, --replicas 3, --dir .sandbox; in containers the
server is the flavour's image from npm run images (MySQL 9.7, MariaDB 11.8; --version 10.11).`;

/** How long pods may take to be healthy (first starts initialise data dirs; a new replica may copy the primary). */
const UP_TIMEOUT_MS = 120_000;

const progress = (line: string) => process.stderr.write(`mysql-ha-agent: ${line}\n`);
const usageError = (message: string) => new AgentError('USAGE', `sandbox: ${message}\n${help}`);

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        flavor: { type: 'string', default: 'mysql' },
        replicas: { type: 'string', default: '3' },
        dir: { type: 'string', default: '.sandbox' },
        mysqld: { type: 'string' },
        runtime: { type: 'string', default: 'processes' },
        version: { type: 'string' },
        purge: { type: 'boolean', default: false },
        write: { type: 'boolean', default: false },
        read: { type: 'boolean', default: false },
        execute: { type: 'string', short: 'e' },
      },
    });
  } catch (error) {
    throw usageError((error as Error).message);
  }
}

function flavorOf(value: string): Flavor {
  if (value !== 'mysql' && value !== 'mariadb') throw usageError(`unknown flavour "${value}": use mysql or mariadb`);
  return value;
}

async function printTable(described: ClusterFile): Promise<boolean> {
  const rows = await collectStatus(agentTargetsOf(described), described.switchoverToken);
  process.stdout.write(`${formatStatusTable(rows)}\n`);
  return rows.every((row) => row.healthy);
}

type Values = ReturnType<typeof parse>['values'];

function replicasOf(values: Values): number {
  return podCount(values.replicas!, '--replicas');
}

function podCount(text: string, what: string): number {
  const replicas = Number(text);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 9) throw usageError(`${what} must be a whole number from 1 to 9 (got "${text}")`);
  return replicas;
}

/** The sandbox DIR already holds, if any, checked against what `up` was asked for. */
function checkPrevious(values: Values, flavor: Flavor, replicas: number, runtime: SandboxRuntime): ClusterFile | undefined {
  let previous: ClusterFile;
  try {
    previous = readClusterFile(values.dir!);
  } catch (error) {
    // No sandbox in DIR yet: a new one starts there.
    if (error instanceof AgentError && error.code === errorDefs.SANDBOX_NOT_FOUND.code) return undefined;
    throw error;
  }
  if ((previous.runtime ?? 'processes') !== runtime)
    throw usageError(`${values.dir} holds a sandbox of ${previous.runtime ?? 'processes'}; use --runtime ${previous.runtime ?? 'processes'} or another --dir`);
  if (previous.flavor !== flavor) throw usageError(`${values.dir} holds a ${previous.flavor} sandbox; use --flavor ${previous.flavor} or another --dir`);
  if (previous.pods.length !== replicas)
    throw usageError(`${values.dir} holds ${previous.pods.length} pods; use --replicas ${previous.pods.length} or another --dir`);
  return previous;
}

async function printUp(described: ClusterFile, dir: string, shownDir: string): Promise<void> {
  await printTable(described);
  const { haproxy, app, admin } = described;
  process.stdout.write(
    `\n${described.flavor} ${described.version} sandbox is up (passwords in ${dir}/cluster.json, mode 0600):\n` +
      `  writes:  mysql-ha-agent sandbox sql --write --dir ${shownDir}   (any client: mysql -h ${haproxy.write.host} -P ${haproxy.write.port} -u ${app.user} -p ${app.database})\n` +
      `  reads:   mysql-ha-agent sandbox sql --read --dir ${shownDir}    (any client: mysql -h ${haproxy.read.host} -P ${haproxy.read.port} -u ${app.user} -p ${app.database})\n` +
      `  admin:   mysql-ha-agent sandbox sql POD --dir ${shownDir}       (user ${admin.user}, every privilege, any pod or port)\n` +
      `  HAProxy: ${haproxy.stats}\n` +
      `  status:  mysql-ha-agent sandbox status --dir ${shownDir}\n`,
  );
}

async function up(values: Values): Promise<number> {
  const flavor = flavorOf(values.flavor!);
  const replicas = replicasOf(values);
  if (values.mysqld && flavor !== 'mysql') throw usageError('--mysqld applies to --flavor mysql only');
  if (values.version) throw usageError('--version applies to --runtime docker only (processes run the Debian packages installed here)');
  const runtime = values.mysqld ? mysqlRuntime(values.mysqld) : runtimeFor(flavor);
  const previous = checkPrevious(values, flavor, replicas, 'processes');
  if (previous?.pods.some((pod) => isRunning(pod.pid.mysqld ?? undefined) || isRunning(pod.pid.agent ?? undefined))) {
    throw usageError(`the sandbox in ${values.dir} is already running: see sandbox status, or sandbox down first`);
  }

  await ensurePrerequisites({ flavors: [flavor], haproxy: true, etcd: true }, progress);
  if (!runtime.installed()) throw new AgentError('SANDBOX_PREREQUISITES_MISSING', `no mysqld at ${values.mysqld}`);
  const cluster = new SandboxCluster({ flavor, replicas, dir: values.dir!, runtime });
  await cluster.checkAddressesFree(true);
  try {
    progress(`preparing ${replicas} pods in ${cluster.dir} (stage + data dirs)`);
    await cluster.prepare();
    progress(`starting etcd, ${replicas} × (mysqld + agent) and HAProxy`);
    await cluster.startEtcd();
    for (const pod of cluster.pods) cluster.startPod(pod);
    await cluster.startHaproxy();
    cluster.save();
    progress('waiting until every pod is healthy');
    await cluster.waitHealthy(UP_TIMEOUT_MS);
    await cluster.waitHaproxySettled(30_000);
    await cluster.readVersion(await cluster.primary());
    cluster.save();
  } catch (error) {
    progress('start failed: stopping what was started');
    await cluster.down(false);
    throw error;
  }
  await printUp(cluster.describe(), cluster.dir, values.dir!);
  return 0;
}

async function upInContainers(values: Values): Promise<number> {
  const flavor = flavorOf(values.flavor!);
  const replicas = replicasOf(values);
  if (values.mysqld) throw usageError('--mysqld applies to --runtime processes only (containers run the server image)');
  checkPrevious(values, flavor, replicas, 'docker');
  const sandbox = new ContainerSandbox({ flavor, version: values.version, replicas, dir: values.dir! });
  try {
    await sandbox.up(progress);
  } catch (error) {
    progress(`start failed: the containers stay for a look (docker ps -a --filter label=io.mysql-ha.sandbox=${sandbox.id}); sandbox down removes them`);
    throw error;
  }
  await printUp(sandbox.describe(), sandbox.dir, values.dir!);
  return 0;
}

async function processAction(action: string, podName: string | undefined, values: Values): Promise<number> {
  const cluster = SandboxCluster.load(values.dir!, runtimeFor);
  switch (action) {
    case 'down':
      await cluster.down(values.purge!);
      return 0;
    case 'kill':
    case 'stop':
    case 'crash':
    case 'start': {
      const pod = cluster.pod(podName!);
      if (action === 'kill') await pod.stopMysqld('SIGKILL');
      else if (action === 'stop') await cluster.stopPod(pod);
      else if (action === 'crash') await cluster.crashPod(pod);
      else cluster.startPod(pod);
      cluster.save();
      return 0;
    }
    default:
      throw usageError(`${action} needs containers (sandbox up --runtime docker)`);
  }
}

async function containerAction(action: string, podName: string | undefined, values: Values, saved: ClusterFile): Promise<number> {
  const sandbox = ContainerSandbox.fromFile(values.dir!, saved);
  if (action === 'down') {
    await sandbox.down(values.purge!);
    return 0;
  }
  const pod = sandbox.pod(podName!);
  switch (action) {
    case 'kill':
      await sandbox.killServer(pod);
      return 0;
    case 'stop':
      await sandbox.stopPod(pod);
      return 0;
    case 'crash':
      await sandbox.crashPod(pod);
      return 0;
    case 'start':
      await sandbox.startPod(pod);
      return 0;
    case 'partition':
      await sandbox.partition(pod);
      return 0;
    case 'heal':
      await sandbox.heal(pod);
      return 0;
    case 'restart':
      await sandbox.restartWithNewAddress(pod);
      return 0;
    default:
      throw usageError(`unknown action "${action}"`);
  }
}

const POD_ACTIONS = new Set(['kill', 'stop', 'crash', 'start', 'partition', 'heal', 'restart']);

export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  const [action, podName] = positionals;
  switch (action) {
    case 'install': {
      const flavors: Flavor[] = values.flavor === 'all' ? ['mysql', 'mariadb'] : [flavorOf(values.flavor!)];
      await ensurePrerequisites({ flavors, haproxy: true, etcd: true, testTools: true }, progress);
      progress('prerequisites installed');
      return 0;
    }
    case 'up':
      if (values.runtime === 'docker') return upInContainers(values);
      if (values.runtime !== 'processes') throw usageError(`unknown runtime "${values.runtime}": use processes or docker`);
      return up(values);
    case undefined:
      throw usageError('missing action');
    case 'scale': {
      if (podName === undefined) throw usageError('scale needs the number of pods: sandbox scale N');
      const replicas = podCount(podName, 'scale N');
      if ((readClusterFile(values.dir!).runtime ?? 'processes') !== 'processes')
        throw usageError('scale works on process sandboxes only (not built for containers)');
      const cluster = SandboxCluster.load(values.dir!, runtimeFor);
      progress(`scaling from ${cluster.pods.length} to ${replicas} pods`);
      await cluster.scale(replicas, UP_TIMEOUT_MS);
      return (await printTable(cluster.describe())) ? 0 : 1;
    }
    case 'sql': {
      if ([podName !== undefined, values.write, values.read].filter(Boolean).length > 1) throw usageError('sql takes one of POD, --write or --read');
      const target: SqlTarget = podName !== undefined ? { pod: podName } : { port: values.read ? 'read' : 'write' };
      return openSqlSession(readClusterFile(values.dir!), values.dir!, target, values.execute);
    }
  }
  if (action !== 'status' && action !== 'down' && !POD_ACTIONS.has(action)) throw usageError(`unknown action "${action}"`);
  if (POD_ACTIONS.has(action) && !podName) throw usageError(`${action} needs a pod name`);
  const saved = readClusterFile(values.dir!);
  if (action === 'status') return (await printTable(saved)) ? 0 : 1;
  const code =
    (saved.runtime ?? 'processes') === 'docker' ? await containerAction(action, podName, values, saved) : await processAction(action, podName, values);
  if (action === 'down') {
    progress(
      values.purge
        ? `stopped and deleted ${resolve(values.dir!)}`
        : `stopped; data kept in ${resolve(values.dir!)} (sandbox up --dir ${values.dir} starts it again)`,
    );
  } else {
    progress(`${action} ${podName}: done`);
  }
  return code;
}
