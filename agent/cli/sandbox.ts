import { parseArgs } from 'node:util';
import { AgentError, errorDefs } from '../errors.ts';
import { collectStatus, formatStatusTable } from '../http/status-client.ts';
import type { Flavor } from '../mysql/dialect/types.ts';
import { SandboxCluster } from '../sandbox/cluster.ts';
import { ensurePrerequisites } from '../sandbox/install.ts';
import { isRunning } from '../sandbox/pod.ts';
import { mysqlRuntime, runtimeFor } from '../sandbox/runtime.ts';

const USAGE = `usage:
  mysql-ha-agent sandbox up [--flavor mysql|mariadb] [--replicas N] [--dir DIR] [--mysqld PATH]
  mysql-ha-agent sandbox status [--dir DIR]
  mysql-ha-agent sandbox kill POD [--dir DIR]     SIGKILL the pod's mysqld (its agent stays)
  mysql-ha-agent sandbox stop POD [--dir DIR]     stop the pod's mysqld and agent
  mysql-ha-agent sandbox start POD [--dir DIR]
  mysql-ha-agent sandbox down [--dir DIR] [--purge]
  mysql-ha-agent sandbox install [--flavor mysql|mariadb|all]   Debian packages and the MySQL 9.7 chroot
Defaults: --flavor mysql, --replicas 3, --dir .sandbox`;

const progress = (line: string) => process.stderr.write(`mysql-ha-agent: ${line}\n`);
const usageError = (message: string) => new AgentError('USAGE', `sandbox: ${message}\n${USAGE}`);

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
        purge: { type: 'boolean', default: false },
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

async function printTable(cluster: SandboxCluster): Promise<boolean> {
  const rows = await collectStatus(cluster.describe().pods.map((pod) => pod.agent));
  process.stdout.write(`${formatStatusTable(rows)}\n`);
  return rows.every((row) => row.healthy);
}

async function up(values: ReturnType<typeof parse>['values']): Promise<number> {
  const flavor = flavorOf(values.flavor!);
  const replicas = Number(values.replicas);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 9) throw usageError(`--replicas must be a whole number from 1 to 9 (got "${values.replicas}")`);
  if (values.mysqld && flavor !== 'mysql') throw usageError('--mysqld applies to --flavor mysql only');
  const runtime = values.mysqld ? mysqlRuntime(values.mysqld) : runtimeFor(flavor);

  try {
    const previous = SandboxCluster.load(values.dir!, runtimeFor).describe();
    if (previous.flavor !== flavor) throw usageError(`${values.dir} holds a ${previous.flavor} sandbox; use --flavor ${previous.flavor} or another --dir`);
    if (previous.pods.some((pod) => isRunning(pod.pid.mysqld ?? undefined) || isRunning(pod.pid.agent ?? undefined))) {
      throw usageError(`the sandbox in ${values.dir} is already running: see sandbox status, or sandbox down first`);
    }
    if (previous.pods.length !== replicas)
      throw usageError(`${values.dir} holds ${previous.pods.length} pods; use --replicas ${previous.pods.length} or another --dir`);
  } catch (error) {
    // No sandbox in DIR yet: a new one starts there.
    if (!(error instanceof AgentError && error.code === errorDefs.SANDBOX_NOT_FOUND.code)) throw error;
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
    await cluster.waitHealthy(120_000);
    await cluster.waitHaproxySettled(30_000);
    await cluster.ensureAdmin(await cluster.primary());
    cluster.save();
  } catch (error) {
    progress('start failed: stopping what was started');
    await cluster.down(false);
    throw error;
  }
  await printTable(cluster);
  const { haproxy, app, admin } = cluster.describe();
  process.stdout.write(
    `\n${cluster.flavor} ${cluster.version} sandbox is up (passwords in ${cluster.dir}/cluster.json, mode 0600):\n` +
      `  writes:  mysql -h ${haproxy.write.host} -P ${haproxy.write.port} -u ${app.user} -p ${app.database}\n` +
      `  reads:   mysql -h ${haproxy.read.host} -P ${haproxy.read.port} -u ${app.user} -p ${app.database}\n` +
      `  admin:   user ${admin.user} (every privilege), any pod or port\n` +
      `  HAProxy: ${haproxy.stats}\n` +
      `  status:  mysql-ha-agent sandbox status --dir ${values.dir}\n`,
  );
  return 0;
}

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
      return up(values);
    case undefined:
      throw usageError('missing action');
  }
  const cluster = SandboxCluster.load(values.dir!, runtimeFor);
  switch (action) {
    case 'status':
      return (await printTable(cluster)) ? 0 : 1;
    case 'down':
      await cluster.down(values.purge!);
      progress(values.purge ? `stopped and deleted ${cluster.dir}` : `stopped; data kept in ${cluster.dir} (sandbox up --dir ${values.dir} starts it again)`);
      return 0;
    case 'kill':
    case 'stop':
    case 'start': {
      if (!podName) throw usageError(`${action} needs a pod name`);
      const pod = cluster.pod(podName);
      if (action === 'kill') await pod.stopMysqld('SIGKILL');
      else if (action === 'stop') await cluster.stopPod(pod);
      else cluster.startPod(pod);
      cluster.save();
      progress(`${action} ${podName}: done`);
      return 0;
    }
    default:
      throw usageError(`unknown action "${action}"`);
  }
}
