import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AgentError, messageOf } from '../errors.ts';
import { type HaproxyConfigOptions, type HaproxyPod, haproxyDefaults, renderHaproxyConfig, type SrvDiscovery } from '../haproxy/config.ts';
import { podName } from '../pod/ordinal.ts';

export const help = `usage: mysql-ha-agent haproxy-config (--pods NAME=HOST[,NAME=HOST...] | --statefulset NAME [--service NAME] [--replicas N])
         [--kubernetes [--namespace NS] [--cluster-domain DOMAIN] [--dns-server IP:PORT] [--srv-slots N]]
         [--write-port N] [--read-port N] [--stats-port N] [--bind ADDR] [--max-lag SECONDS]
         [--mysql-port N] [--agent-port N] [--agent-ca FILE] [--output FILE]

Prints haproxy.cfg (or writes it to FILE) for a mysql-ha cluster.
  --pods             pods and where they listen, e.g. mysql-ha-0=10.0.0.5,mysql-ha-1=10.0.0.6
  --statefulset      derive the pods NAME-0..NAME-(N-1) of a StatefulSet instead
  --service          its headless Service (default: the StatefulSet name)
  --replicas         how many pods (default 3)
  --kubernetes       resolve pod names through the cluster DNS at run time; hosts become
                     POD.SERVICE.NAMESPACE.svc.DOMAIN
  --namespace        default "\${POD_NAMESPACE}", which HAProxy reads from its environment
  --cluster-domain   default cluster.local
  --dns-server       use this nameserver instead of the ones in /etc/resolv.conf
  --srv-slots        with --statefulset: find the pods through the headless Service's SRV
                     record _mysql._tcp.SERVICE.NAMESPACE.svc.DOMAIN, up to N of them (no
                     --replicas: scaling needs no new config)
  --agent-ca         the agents serve HTTPS (MYSQL_HA_TLS_DIR): check them over TLS and verify
                     their certificates with this CA file, as HAProxy's container sees it
Defaults: write port ${haproxyDefaults.writePort}, read port ${haproxyDefaults.readPort}, stats port ${haproxyDefaults.statsPort}, bind ${haproxyDefaults.bindAddress}, max lag ${haproxyDefaults.maxLagSeconds}s, mysql port ${haproxyDefaults.mysqlPort}, agent port ${haproxyDefaults.agentPort}.`;

const optionSpec = {
  pods: { type: 'string' },
  statefulset: { type: 'string' },
  service: { type: 'string' },
  replicas: { type: 'string' },
  kubernetes: { type: 'boolean' },
  namespace: { type: 'string' },
  'cluster-domain': { type: 'string' },
  'dns-server': { type: 'string' },
  'srv-slots': { type: 'string' },
  'write-port': { type: 'string' },
  'read-port': { type: 'string' },
  'stats-port': { type: 'string' },
  bind: { type: 'string' },
  'max-lag': { type: 'string' },
  'mysql-port': { type: 'string' },
  'agent-port': { type: 'string' },
  'agent-ca': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

/** A mistake in the command line: the registry's USAGE error (exit code 2), pointing at this command's --help. */
function usageError(message: string, cause?: unknown): AgentError {
  return new AgentError('USAGE', `haproxy-config: ${message}`, { cause, hint: 'run "mysql-ha-agent haproxy-config --help" for the options' });
}

/** parseArgs reports unknown or malformed options as TypeErrors with an ERR_PARSE_ARGS_* code. */
function isParseArgsError(error: unknown): error is TypeError {
  return error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw usageError(`--${flag} must be a whole number from ${min} to ${max} (got "${value}")`);
  }
  return Number(value);
}

function parsePods(spec: string): HaproxyPod[] {
  return spec.split(',').map((entry) => {
    const match = /^([^=\s]+)=([^=\s]+)$/.exec(entry);
    if (!match) {
      throw usageError(`--pods entry "${entry}" is not NAME=HOST (e.g. mysql-ha-0=10.0.0.5)`);
    }
    return { name: match[1]!, host: match[2]! };
  });
}

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec }>>['values'];

function statefulSetPods(values: Values): HaproxyPod[] {
  const statefulSet = values.statefulset!;
  const service = values.service ?? statefulSet;
  const replicas = integer('replicas', values.replicas, 1, 64) ?? 3;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${POD_NAMESPACE}, which HAProxy expands from its environment
  const suffix = values.kubernetes ? `.${service}.${values.namespace ?? '${POD_NAMESPACE}'}.svc.${values['cluster-domain'] ?? 'cluster.local'}` : `.${service}`;
  return Array.from({ length: replicas }, (_, ordinal) => {
    const name = podName(statefulSet, ordinal);
    return { name, host: `${name}${suffix}` };
  });
}

function srvDiscovery(values: Values): SrvDiscovery {
  const service = values.service ?? values.statefulset!;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${POD_NAMESPACE}, which HAProxy expands from its environment
  const namespace = values.namespace ?? '${POD_NAMESPACE}';
  return {
    record: `_mysql._tcp.${service}.${namespace}.svc.${values['cluster-domain'] ?? 'cluster.local'}`,
    slots: integer('srv-slots', values['srv-slots'], 1, 64)!,
    prefix: `${values.statefulset}-slot`,
  };
}

function toOptions(values: Values, generatedBy: string): HaproxyConfigOptions {
  if ((values.pods === undefined) === (values.statefulset === undefined)) {
    throw usageError('give exactly one of --pods or --statefulset');
  }
  for (const flag of ['service', 'replicas'] as const) {
    if (values[flag] !== undefined && values.statefulset === undefined) {
      throw usageError(`--${flag} only applies with --statefulset`);
    }
  }
  for (const flag of ['namespace', 'cluster-domain'] as const) {
    if (values[flag] !== undefined && (values.statefulset === undefined || !values.kubernetes)) {
      throw usageError(`--${flag} only applies with --statefulset and --kubernetes`);
    }
  }
  if (values['dns-server'] !== undefined && !values.kubernetes) {
    throw usageError('--dns-server only applies with --kubernetes');
  }
  if (values['srv-slots'] !== undefined && (values.statefulset === undefined || !values.kubernetes || values.replicas !== undefined)) {
    throw usageError('--srv-slots only applies with --statefulset and --kubernetes, and replaces --replicas');
  }
  const srv = values['srv-slots'] === undefined ? undefined : srvDiscovery(values);
  return {
    pods: values.pods !== undefined ? parsePods(values.pods) : srv ? [] : statefulSetPods(values),
    srv,
    kubernetes: values.kubernetes ?? false,
    dnsServer: values['dns-server'],
    writePort: integer('write-port', values['write-port'], 1, 65535),
    readPort: integer('read-port', values['read-port'], 1, 65535),
    statsPort: integer('stats-port', values['stats-port'], 1, 65535),
    mysqlPort: integer('mysql-port', values['mysql-port'], 1, 65535),
    agentPort: integer('agent-port', values['agent-port'], 1, 65535),
    bindAddress: values.bind,
    maxLagSeconds: integer('max-lag', values['max-lag'], 0, 86_400),
    agentCaFile: values['agent-ca'],
    generatedBy,
  };
}

/** The command as typed, less --output, so the file says how to re-render it wherever it is written. */
function commandLine(args: string[]): string {
  const { tokens } = parseArgs({ args, options: optionSpec, strict: false, tokens: true });
  const skip = new Set<number>();
  for (const token of tokens) {
    if (token.kind === 'option' && token.name === 'output') {
      skip.add(token.index);
      if (!token.inlineValue) skip.add(token.index + 1);
    }
  }
  return ['mysql-ha-agent', 'haproxy-config', ...args.filter((_, index) => !skip.has(index))].join(' ');
}

export async function main(args: string[]): Promise<number> {
  let config: string;
  let output: string | undefined;
  try {
    const { values } = parseArgs({ args, options: optionSpec, strict: true, allowPositionals: false });
    output = values.output;
    config = renderHaproxyConfig(toOptions(values, commandLine(args)));
  } catch (error) {
    // The renderer throws RangeErrors for bad values.
    if (isParseArgsError(error) || error instanceof RangeError) throw usageError(error.message, error);
    throw error;
  }
  if (output === undefined) {
    process.stdout.write(config);
    return 0;
  }
  try {
    writeFileSync(output, config);
  } catch (error) {
    throw new AgentError('FILE_WRITE_FAILED', `cannot write the HAProxy config to ${output}: ${messageOf(error)}`, { cause: error });
  }
  return 0;
}
