// Renders haproxy.cfg for a mysql-ha cluster. HAProxy holds no state of its own: it
// asks each pod's agent over HTTP which role the pod has, so a failover needs no
// configuration change, only the agents' answers changing.
import { isIP } from 'node:net';

export interface HaproxyPod {
  /** Server name in HAProxy (the pod name). */
  name: string;
  /** Where the pod's mysqld and agent listen: an address, or a DNS name (may hold HAProxy "${VAR}" references). */
  host: string;
}

/**
 * Pods found at run time through a DNS SRV record (a headless Service's
 * `_mysql._tcp.SERVICE.NAMESPACE.svc.DOMAIN`), into `slots` server slots: scaling the
 * StatefulSet needs no new config. The port comes from the record.
 */
export interface SrvDiscovery {
  record: string;
  /** The most pods HAProxy can route to. */
  slots: number;
  /** Server names are the prefix and a slot number (mysql-ha-1 …): HAProxy's, not the pods'. */
  prefix: string;
}

export interface HaproxyConfigOptions {
  /** The pods, by name and host; empty with `srv`. */
  pods: HaproxyPod[];
  srv?: SrvDiscovery;
  mysqlPort?: number;
  agentPort?: number;
  writePort?: number;
  readPort?: number;
  statsPort?: number;
  bindAddress?: string;
  /** Replicas lagging more than this many seconds get no reads. */
  maxLagSeconds?: number;
  /** Resolve pod names through the cluster DNS at run time, so a rescheduled pod's new IP is followed. */
  kubernetes?: boolean;
  /** A nameserver "ip:port" to use instead of the ones in /etc/resolv.conf (kubernetes only). */
  dnsServer?: string;
  /**
   * The agents serve HTTPS (MYSQL_HA_TLS_DIR): check over TLS, with their certificates verified
   * against this CA file (as HAProxy sees it), and their names where pods are named.
   */
  agentCaFile?: string;
  /** The command that produced the file, written into its header. */
  generatedBy?: string;
}

export const haproxyDefaults = {
  mysqlPort: 3306,
  agentPort: 8080,
  writePort: 6446,
  readPort: 6447,
  statsPort: 8404,
  bindAddress: '0.0.0.0',
  maxLagSeconds: 10,
} as const;

export interface CheckTiming {
  intervalMs: number;
  /** After a failed check, until the server is marked down. */
  fastIntervalMs: number;
  /** While the server is down. */
  downIntervalMs: number;
  fall: number;
  rise: number;
  timeoutMs: number;
}

/**
 * Health-check timing per backend. Writes are what a failover interrupts: a primary that stops
 * answering /primary is dropped quickly, and the replicas (down in that backend) are looked at
 * often, so a new primary takes writes soon after it answers 200. Reads can wait a little longer.
 * Together at most 10 checks per second reach one agent from one HAProxy in steady state
 * (a replica: 6.7 as down in the write backend, at most 3.3 in the read backend), the issue's bound.
 */
export const checkTimings = {
  write: { intervalMs: 250, fastIntervalMs: 100, downIntervalMs: 150, fall: 2, rise: 1, timeoutMs: 1000 },
  read: { intervalMs: 500, fastIntervalMs: 250, downIntervalMs: 300, fall: 2, rise: 1, timeoutMs: 1000 },
} as const satisfies Record<'write' | 'read', CheckTiming>;

/**
 * Worst case from "an agent stops answering 200" to "HAProxy stops sending it traffic":
 * the next check (`inter`), then `fall` − 1 more `fastinter` apart, the last one running into
 * its timeout. The old primary of a switchover is such a pod in the write backend: writes keep
 * going to it (and failing on read-only) until HAProxy marks it down.
 */
export const failureDetectionSeconds = (timing: CheckTiming): number =>
  (timing.intervalMs + (timing.fall - 1) * timing.fastIntervalMs + timing.timeoutMs) / 1000;

export const resolversName = 'cluster-dns';

const serverNamePattern = /^[A-Za-z0-9._-]+$/;
const hostPattern = /^[^\s"',=]+$/;

function checkPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new RangeError(`${name} must be an integer from 1 to 65535 (got ${value})`);
  }
}

function validate(
  options: HaproxyConfigOptions,
  resolved: Required<Omit<HaproxyConfigOptions, 'dnsServer' | 'generatedBy' | 'pods' | 'srv' | 'agentCaFile'>>,
): void {
  if (options.srv !== undefined) {
    if (options.pods.length > 0) throw new RangeError('give pods or an SRV record, not both');
    if (!options.kubernetes) throw new RangeError('an SRV record needs kubernetes: true (HAProxy resolves it at run time)');
    if (!hostPattern.test(options.srv.record) || !serverNamePattern.test(options.srv.prefix)) {
      throw new RangeError(`SRV record "${options.srv.record}" or server prefix "${options.srv.prefix}" has characters HAProxy cannot take`);
    }
    if (!Number.isInteger(options.srv.slots) || options.srv.slots < 1 || options.srv.slots > 64) {
      throw new RangeError(`slots must be a whole number from 1 to 64 (got ${options.srv.slots})`);
    }
  } else if (options.pods.length === 0) {
    throw new RangeError('no pods given: pass at least one pod name and host');
  }
  const names = new Set<string>();
  for (const pod of options.pods) {
    if (!serverNamePattern.test(pod.name)) {
      throw new RangeError(`pod name "${pod.name}" may only contain letters, digits, ".", "_" and "-"`);
    }
    if (!hostPattern.test(pod.host)) {
      throw new RangeError(`host "${pod.host}" of pod ${pod.name} must not contain spaces, quotes, "," or "="`);
    }
    if (names.has(pod.name)) {
      throw new RangeError(`pod ${pod.name} is listed twice`);
    }
    names.add(pod.name);
  }
  for (const name of ['mysqlPort', 'agentPort', 'writePort', 'readPort', 'statsPort'] as const) {
    checkPort(name, resolved[name]);
  }
  const listening = [resolved.writePort, resolved.readPort, resolved.statsPort];
  if (new Set(listening).size !== listening.length) {
    throw new RangeError(`writePort, readPort and statsPort must differ (got ${listening.join(', ')})`);
  }
  if (!Number.isInteger(resolved.maxLagSeconds) || resolved.maxLagSeconds < 0) {
    throw new RangeError(`maxLagSeconds must be a whole number of seconds, 0 or more (got ${resolved.maxLagSeconds})`);
  }
  if (!hostPattern.test(resolved.bindAddress)) {
    throw new RangeError(`bind address "${resolved.bindAddress}" must not contain spaces, quotes, "," or "="`);
  }
  if (options.agentCaFile !== undefined && !hostPattern.test(options.agentCaFile)) {
    throw new RangeError(`CA file "${options.agentCaFile}" must not contain spaces, quotes, "," or "="`);
  }
  if (options.dnsServer !== undefined && !options.kubernetes) {
    throw new RangeError('dnsServer only applies with kubernetes: true');
  }
  if (options.dnsServer !== undefined && !/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(options.dnsServer)) {
    throw new RangeError(`dnsServer must be "ip:port", e.g. 10.96.0.10:53 (got "${options.dnsServer}")`);
  }
}

/**
 * A server's check over TLS: verified against the CA, and, for a pod addressed by name, sent that
 * name (SNI) and required to carry it; a pod addressed by IP has its chain verified only.
 */
function checkTls(host: string, caFile: string | undefined): string {
  if (caFile === undefined || isIP(host)) return '';
  return ` check-sni "${host}" verifyhost "${host}"`;
}

/** "host:port", bracketing IPv6 literals; quoted so HAProxy expands "${VAR}" references. */
function address(host: string, port: number): string {
  return `"${host.includes(':') ? `[${host}]` : host}:${port}"`;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function renderHaproxyConfig(options: HaproxyConfigOptions): string {
  const o = {
    mysqlPort: options.mysqlPort ?? haproxyDefaults.mysqlPort,
    agentPort: options.agentPort ?? haproxyDefaults.agentPort,
    writePort: options.writePort ?? haproxyDefaults.writePort,
    readPort: options.readPort ?? haproxyDefaults.readPort,
    statsPort: options.statsPort ?? haproxyDefaults.statsPort,
    bindAddress: options.bindAddress ?? haproxyDefaults.bindAddress,
    maxLagSeconds: options.maxLagSeconds ?? haproxyDefaults.maxLagSeconds,
    kubernetes: options.kubernetes ?? false,
  };
  validate(options, o);

  const dnsOptions = o.kubernetes ? ` resolvers ${resolversName} init-addr last,libc,none` : '';
  // downinter: a server that is down (a new primary, a replica back in sync) is looked at more often.
  // The agents' API over TLS; MySQL traffic itself stays TCP, passed through unchanged.
  const tlsOptions = options.agentCaFile === undefined ? '' : ` check-ssl verify required ca-file "${options.agentCaFile}"`;
  const defaultServer = (timing: CheckTiming) =>
    `    default-server inter ${seconds(timing.intervalMs)} fastinter ${seconds(timing.fastIntervalMs)} downinter ${seconds(timing.downIntervalMs)} ` +
    `fall ${timing.fall} rise ${timing.rise} on-marked-down shutdown-sessions${dnsOptions}${tlsOptions}`;
  const describeChecks = (backend: string, timing: CheckTiming) => [
    `# ${backend}: checked every ${seconds(timing.intervalMs)} (every ${seconds(timing.fastIntervalMs)} after a failed one), fail after ${timing.fall}, ` +
      `recover after ${timing.rise}, time out after ${seconds(timing.timeoutMs)}:`,
    `#   a pod stops getting traffic at most ${failureDetectionSeconds(timing)}s after its agent stops answering 200;`,
    `#   a pod that is down is checked every ${seconds(timing.downIntervalMs)}.`,
  ];
  const servers = options.srv
    ? [`    server-template ${options.srv.prefix} ${options.srv.slots} "${options.srv.record}" check port ${o.agentPort}`]
    : options.pods.map((pod) => `    server ${pod.name} ${address(pod.host, o.mysqlPort)} check port ${o.agentPort}${checkTls(pod.host, options.agentCaFile)}`);
  const bind = (port: number) => `    bind ${address(o.bindAddress, port)}`;

  const lines = [
    `# haproxy.cfg for mysql-ha${options.generatedBy ? `, generated by: ${options.generatedBy}` : ''}`,
    '# Re-render it rather than editing it by hand.',
    '#',
    `# Port ${o.writePort}: writes, to the one pod whose agent answers GET /primary with 200.`,
    `# Port ${o.readPort}: reads, round-robin over every pod whose agent answers`,
    `#   GET /read-only?lag=${o.maxLagSeconds} with 200 (the primary and replicas at most ${o.maxLagSeconds}s behind).`,
    `# Port ${o.statsPort}: stats page at /stats, liveness at /healthz.`,
    ...(options.agentCaFile === undefined
      ? []
      : [
          `# The agents answer over HTTPS: their certificates must be signed by ${options.agentCaFile}${options.srv ? '' : ' and name the pod where it is addressed by name'}.`,
        ]),
    ...describeChecks('Writes', checkTimings.write),
    ...describeChecks('Reads', checkTimings.read),
    '# A pod marked down has its open connections closed (on-marked-down shutdown-sessions).',
    '',
    'global',
    // ISO timestamps: a log line says when a server went down or up (kubectl logs, sandbox logs).
    '    log stdout format iso local0',
    '',
    'defaults',
    '    log global',
    '    mode tcp',
    // Also the pause before a retry (min(timeout connect, 1s)): each connection a just-killed
    // mysqld refused waited a whole second before it was sent to the new primary.
    '    # A handshake on the pod network takes a millisecond; this is also the pause before a retry.',
    '    timeout connect 250ms',
    '    # A server that refuses a connection before its checks fail (a mysqld just killed) costs the',
    '    # client a retry on another server of the same backend, 250 ms later.',
    '    retries 2',
    '    option redispatch 1',
    "    # Pooled MySQL connections stay open for hours; match mysqld's default wait_timeout (8h).",
    '    timeout client 8h',
    '    timeout server 8h',
    `    timeout check ${seconds(Math.max(checkTimings.write.timeoutMs, checkTimings.read.timeoutMs))}`,
    '',
  ];
  if (o.kubernetes) {
    lines.push(
      `resolvers ${resolversName}`,
      options.dnsServer ? `    nameserver dns1 ${options.dnsServer}` : '    parse-resolv-conf',
      "    # An SRV answer for nine pods, with their addresses, is larger than DNS's classic 512 bytes.",
      '    accepted_payload_size 8192',
      '    resolve_retries 3',
      '    timeout resolve 1s',
      '    timeout retry 1s',
      '    # Cluster DNS answers for pods live 5s; keep a vanished pod 5s before putting it in maintenance.',
      '    hold valid 5s',
      '    hold nx 5s',
      '    hold obsolete 5s',
      '',
    );
  }
  lines.push(
    'frontend mysql-write',
    bind(o.writePort),
    '    option tcplog',
    '    default_backend mysql-primary',
    '',
    'backend mysql-primary',
    '    # Should two agents ever both answer /primary, all writes still go to one of them.',
    '    balance first',
    '    option httpchk',
    '    http-check send meth GET uri /primary',
    '    http-check expect status 200',
    defaultServer(checkTimings.write),
    ...servers,
    '',
    'frontend mysql-read',
    bind(o.readPort),
    '    option tcplog',
    '    default_backend mysql-readable',
    '',
    'backend mysql-readable',
    '    balance roundrobin',
    '    option httpchk',
    `    http-check send meth GET uri /read-only?lag=${o.maxLagSeconds}`,
    '    http-check expect status 200',
    // 404: a replica stopping on purpose (a restart, its pod terminating) drains: no new reads, running ones finish.
    '    http-check disable-on-404',
    defaultServer(checkTimings.read),
    ...servers,
    '',
    'frontend stats',
    bind(o.statsPort),
    '    mode http',
    '    timeout client 30s',
    '    stats enable',
    '    stats uri /stats',
    '    stats refresh 5s',
    '    monitor-uri /healthz',
    '',
  );
  return lines.join('\n');
}
