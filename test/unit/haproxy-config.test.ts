import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_DRAIN_MS } from '../../agent/config.ts';
import { checkTimings, failureDetectionSeconds, haproxyDefaults, renderHaproxyConfig, resolversName } from '../../agent/haproxy/config.ts';
import { haproxyCheck, isOfflineDnsWarning } from '../support/haproxy-check.ts';

const pods = [0, 1, 2].map((i) => ({ name: `mysql-ha-${i}`, host: `10.0.0.${i + 10}` }));
const kubernetesPods = [0, 1, 2].map((i) => ({ name: `mysql-ha-${i}`, host: `mysql-ha-${i}.mysql-ha.\${POD_NAMESPACE}.svc.cluster.local` }));

/** The config as HAProxy reads it: each section header with its directives (comments and indentation dropped). */
function parseConfig(config: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of config.split('\n')) {
    const text = line.replace(/^\s*#.*$/, '').trim();
    if (text === '') continue;
    if (/^\s/.test(line)) {
      assert.ok(current, `directive outside any section: ${line}`);
      current.push(text.split(/\s+/).join(' '));
    } else {
      current = [];
      sections.set(text, current);
    }
  }
  return sections;
}

function directives(config: Map<string, string[]>, header: string): string[] {
  const found = config.get(header);
  assert.ok(found, `no "${header}" section; sections: ${[...config.keys()].join(', ')}`);
  return found;
}

/** An HAProxy time ("250ms", "1s", "2m", or a bare number of milliseconds) in milliseconds. */
function timeMs(value: string | undefined): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value ?? '');
  assert.ok(match, `not an HAProxy time: ${value}`);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
  return Number(match[1]) * unit;
}

// Server keywords this config uses that take an argument; any other keyword is a flag (e.g. check).
const serverKeywordsWithArgument = new Set(['inter', 'fastinter', 'downinter', 'fall', 'rise', 'on-marked-down', 'port', 'resolvers', 'init-addr']);

function serverOptions(words: string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let i = 0; i < words.length; i += 1) {
    const keyword = words[i]!;
    options.set(keyword, serverKeywordsWithArgument.has(keyword) ? words[++i]! : '');
  }
  return options;
}

/** The default-server options of a backend. */
function defaultServer(backend: string[]): Map<string, string> {
  const lines = backend.filter((line) => line.startsWith('default-server '));
  assert.equal(lines.length, 1, backend.join('\n'));
  return serverOptions(lines[0]!.split(' ').slice(1));
}

interface Server {
  name: string;
  host: string;
  port: number;
  options: Map<string, string>;
}

/** The `server` lines of a backend: name, "host:port" (quoted, IPv6 in brackets) and options. */
function servers(backend: string[]): Server[] {
  return backend
    .filter((line) => line.startsWith('server '))
    .map((line) => {
      const match = /^server (\S+) "(\[[^\]]+\]|[^":]+):(\d+)" ?(.*)$/.exec(line);
      assert.ok(match, `cannot read server line: ${line}`);
      return { name: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ''), port: Number(match[3]), options: serverOptions(match[4]!.split(' ').filter(Boolean)) };
    });
}

/** Where HAProxy sends its health checks for each server of a backend, e.g. "GET http://10.0.0.10:8080/primary". */
function healthChecks(backend: string[]): string[] {
  assert.ok(backend.includes('option httpchk'), backend.join('\n'));
  const send = backend.find((line) => line.startsWith('http-check send '));
  const request = /^http-check send meth (\S+) uri (\S+)$/.exec(send ?? '');
  assert.ok(request, `no http-check send line: ${backend.join('\n')}`);
  return servers(backend).map((server) => {
    assert.ok(server.options.has('check'), `server ${server.name} is not health-checked`);
    return `${request[1]} http://${server.host}:${server.options.get('port') ?? server.port}${request[2]}`;
  });
}

const cli = (args: string[]) => spawnSync(process.execPath, ['agent/cli.ts', ...args], { encoding: 'utf8' });

describe('renderHaproxyConfig', () => {
  const config = renderHaproxyConfig({ pods });
  const parsed = parseConfig(config);

  it('sends writes only to the pod whose agent answers /primary, and drops its sessions when it goes down', () => {
    const frontend = directives(parsed, 'frontend mysql-write');
    assert.ok(frontend.includes(`bind "0.0.0.0:${haproxyDefaults.writePort}"`), frontend.join('\n'));
    assert.ok(frontend.includes('default_backend mysql-primary'), frontend.join('\n'));
    const backend = directives(parsed, 'backend mysql-primary');
    // "first": all writes go to one server, even should two ever pass the check.
    assert.ok(backend.includes('balance first'));
    assert.deepEqual(
      servers(backend).map((server) => `${server.name} ${server.host}:${server.port}`),
      pods.map((pod) => `${pod.name} ${pod.host}:3306`),
    );
    assert.deepEqual(
      healthChecks(backend),
      pods.map((pod) => `GET http://${pod.host}:8080/primary`),
    );
    assert.ok(backend.includes('http-check expect status 200'));
    assert.equal(defaultServer(backend).get('on-marked-down'), 'shutdown-sessions');
  });

  it('spreads reads round-robin over every pod within the lag limit, the primary included', () => {
    const custom = parseConfig(renderHaproxyConfig({ pods, maxLagSeconds: 7 }));
    const frontend = directives(custom, 'frontend mysql-read');
    assert.ok(frontend.includes(`bind "0.0.0.0:${haproxyDefaults.readPort}"`), frontend.join('\n'));
    assert.ok(frontend.includes('default_backend mysql-readable'), frontend.join('\n'));
    const backend = directives(custom, 'backend mysql-readable');
    assert.ok(backend.includes('balance roundrobin'));
    assert.deepEqual(
      servers(backend).map((server) => `${server.name} ${server.host}:${server.port}`),
      pods.map((pod) => `${pod.name} ${pod.host}:3306`),
    );
    assert.deepEqual(
      healthChecks(backend),
      pods.map((pod) => `GET http://${pod.host}:8080/read-only?lag=7`),
    );
    assert.ok(backend.includes('http-check expect status 200'));
    assert.equal(defaultServer(backend).get('on-marked-down'), 'shutdown-sessions');
  });

  for (const [kind, header] of [
    ['write', 'backend mysql-primary'],
    ['read', 'backend mysql-readable'],
  ] as const) {
    it(`${kind}s: rechecks failed and down servers sooner, and the detection time it states fits its check settings`, () => {
      const server = defaultServer(directives(parsed, header));
      const checkTimeout = directives(parsed, 'defaults').find((line) => line.startsWith('timeout check '));
      const settings = {
        interMs: timeMs(server.get('inter')),
        fastinterMs: timeMs(server.get('fastinter')),
        downinterMs: timeMs(server.get('downinter')),
        fall: Number(server.get('fall')),
        rise: Number(server.get('rise')),
        timeoutMs: timeMs(checkTimeout?.split(' ')[2]),
      };
      // A failed check is repeated sooner than the regular interval, and a server that is down is checked sooner too.
      assert.ok(settings.fastinterMs < settings.interMs && settings.downinterMs < settings.interMs, JSON.stringify(settings));

      // The header comment describes these very settings...
      const title = kind === 'write' ? 'Writes' : 'Reads';
      const stated = new RegExp(
        `^# ${title}: checked every (\\S+) \\(every (\\S+) after a failed one\\), fail after (\\d+), recover after (\\d+), time out after (\\S+):\\n` +
          '#   a pod stops getting traffic at most ([\\d.]+)s after its agent stops answering 200;\\n#   a pod that is down is checked every (\\S+)\\.$',
        'm',
      ).exec(config);
      assert.ok(stated, config);
      assert.deepEqual(
        {
          interMs: timeMs(stated[1]),
          fastinterMs: timeMs(stated[2]),
          downinterMs: timeMs(stated[7]),
          fall: Number(stated[3]),
          rise: Number(stated[4]),
          timeoutMs: timeMs(stated[5]),
        },
        settings,
      );
      // ...and a worst case that they bound. The first failing check comes at most `inter` after the
      // last passing one, each further one `fastinter` later; `fall` of them mark the pod down. At
      // the quickest, every check fails at once; at the slowest, every one runs into its timeout.
      const statedMs = Number(stated[6]) * 1000;
      const quickestMs = settings.interMs + (settings.fall - 1) * settings.fastinterMs;
      const slowestMs = quickestMs + settings.fall * settings.timeoutMs;
      assert.ok(
        statedMs >= quickestMs && statedMs <= slowestMs,
        `stated ${statedMs} ms, outside [${quickestMs}, ${slowestMs}] ms for ${JSON.stringify(settings)}`,
      );
      assert.equal(statedMs, failureDetectionSeconds(checkTimings[kind]) * 1000, 'the exported detection time (in docs and benchmark) is the one stated');
      // A terminating pod fails its checks, then keeps mysqld serving this long: HAProxy has stopped sending it clients by then.
      assert.ok(DEFAULT_DRAIN_MS >= statedMs, `the agent's default drain ${DEFAULT_DRAIN_MS} ms is shorter than HAProxy's ${statedMs} ms detection`);
    });
  }

  it("sends one agent at most 10 checks a second in steady state, whatever its pod's role", () => {
    const [write, read] = ['backend mysql-primary', 'backend mysql-readable'].map((header) => defaultServer(directives(parsed, header)));
    const perSecond = (server: Map<string, string>, setting: string) => 1000 / timeMs(server.get(setting));
    // The primary is up in both backends; a replica is down in the write backend, up (or, lagging, down) in the read one.
    const primary = perSecond(write!, 'inter') + perSecond(read!, 'inter');
    const replica = perSecond(write!, 'downinter') + Math.max(perSecond(read!, 'inter'), perSecond(read!, 'downinter'));
    assert.ok(primary <= 10 && replica <= 10, `primary ${primary}/s, replica ${replica}/s`);
  });

  it('serves a stats page', () => {
    const stats = directives(parsed, 'frontend stats');
    for (const directive of [`bind "0.0.0.0:${haproxyDefaults.statsPort}"`, 'mode http', 'stats enable', 'stats uri /stats']) {
      assert.ok(stats.includes(directive), `${directive} missing from:\n${stats.join('\n')}`);
    }
  });

  it('honours custom ports, agent port and bind address', () => {
    const custom = parseConfig(
      renderHaproxyConfig({ pods, writePort: 7001, readPort: 7002, statsPort: 7003, mysqlPort: 3307, agentPort: 9000, bindAddress: '::' }),
    );
    assert.ok(directives(custom, 'frontend mysql-write').includes('bind "[::]:7001"'));
    assert.ok(directives(custom, 'frontend mysql-read').includes('bind "[::]:7002"'));
    assert.ok(directives(custom, 'frontend stats').includes('bind "[::]:7003"'));
    for (const backend of ['backend mysql-primary', 'backend mysql-readable']) {
      assert.deepEqual(
        servers(directives(custom, backend)).map((server) => `${server.host}:${server.port}`),
        pods.map((pod) => `${pod.host}:3307`),
      );
      assert.ok(healthChecks(directives(custom, backend)).every((check) => /^GET http:\/\/10\.0\.0\.\d+:9000\//.test(check)));
    }
    const ipv6 = servers(directives(parseConfig(renderHaproxyConfig({ pods: [{ name: 'v6', host: 'fd00::1' }] })), 'backend mysql-primary'));
    assert.deepEqual(
      ipv6.map((server) => `${server.host} ${server.port}`),
      ['fd00::1 3306'],
    );
  });

  it('without kubernetes has no resolvers; with it, follows pod IP changes through the cluster DNS', () => {
    assert.ok(![...parsed.keys()].some((header) => header.startsWith('resolvers ')));
    for (const backend of ['backend mysql-primary', 'backend mysql-readable']) {
      assert.ok(!defaultServer(directives(parsed, backend)).has('resolvers'));
    }
    const kube = parseConfig(renderHaproxyConfig({ pods: kubernetesPods, kubernetes: true }));
    assert.ok(directives(kube, `resolvers ${resolversName}`).includes('parse-resolv-conf'));
    for (const backend of ['backend mysql-primary', 'backend mysql-readable']) {
      const options = defaultServer(directives(kube, backend));
      assert.equal(options.get('resolvers'), resolversName);
      // Start even when a pod's name does not resolve yet (a pod not scheduled), keeping the last address known.
      assert.equal(options.get('init-addr'), 'last,libc,none');
    }
    const pinned = directives(
      parseConfig(renderHaproxyConfig({ pods: kubernetesPods, kubernetes: true, dnsServer: '10.96.0.10:53' })),
      `resolvers ${resolversName}`,
    );
    assert.ok(pinned.includes('nameserver dns1 10.96.0.10:53'), pinned.join('\n'));
    assert.ok(!pinned.includes('parse-resolv-conf'), pinned.join('\n'));
  });

  it('rejects input that would make a broken config, saying what is wrong', () => {
    assert.throws(() => renderHaproxyConfig({ pods: [] }), /no pods given/);
    assert.throws(() => renderHaproxyConfig({ pods: [pods[0]!, pods[0]!] }), /listed twice/);
    assert.throws(() => renderHaproxyConfig({ pods: [{ name: 'a b', host: 'x' }] }), /may only contain/);
    assert.throws(() => renderHaproxyConfig({ pods: [{ name: 'a', host: 'x y' }] }), /must not contain spaces/);
    assert.throws(() => renderHaproxyConfig({ pods, writePort: 6447 }), /must differ/);
    assert.throws(() => renderHaproxyConfig({ pods, statsPort: 70000 }), /statsPort must be an integer from 1 to 65535/);
    assert.throws(() => renderHaproxyConfig({ pods, maxLagSeconds: -1 }), /maxLagSeconds/);
    assert.throws(() => renderHaproxyConfig({ pods, dnsServer: '10.0.0.1:53' }), /only applies with kubernetes/);
    assert.throws(() => renderHaproxyConfig({ pods, kubernetes: true, dnsServer: 'kube-dns' }), /ip:port/);
    const srv = { record: '_mysql._tcp.db.prod.svc.cluster.local', slots: 9, prefix: 'db-slot' };
    assert.throws(() => renderHaproxyConfig({ pods, kubernetes: true, srv }), /pods or an SRV record, not both/);
    assert.throws(() => renderHaproxyConfig({ pods: [], srv }), /needs kubernetes: true/);
    assert.throws(() => renderHaproxyConfig({ pods: [], kubernetes: true, srv: { ...srv, slots: 0 } }), /slots must be a whole number from 1 to 64/);
  });
});

describe('docs/kubernetes.md', () => {
  it('states the failure detection time the config implies', () => {
    const docs = readFileSync('docs/kubernetes.md', 'utf8');
    const [write, read] = [failureDetectionSeconds(checkTimings.write), failureDetectionSeconds(checkTimings.read)];
    assert.match(docs, new RegExp(`at most\\s+${write} seconds\\s+\\(writes\\) or\\s+${read} seconds\\s+\\(reads\\)\\s+after its agent stops answering 200`));
    assert.match(docs, new RegExp(`within the stated ${write} s`));
  });
});

describe('haproxy -c accepts the rendered config', () => {
  it('without kubernetes, with no warning at all', () => {
    const loopbackPods = [0, 1, 2].map((i) => ({ name: `mysql-ha-${i}`, host: `127.0.0.${i + 2}` }));
    const result = haproxyCheck(renderHaproxyConfig({ pods: loopbackPods }));
    assert.equal(result.status, 0, result.output);
    assert.deepEqual(result.warnings, [], result.output);
  });

  it('with kubernetes, warning only that the offline check could not reach a DNS server', () => {
    const result = haproxyCheck(renderHaproxyConfig({ pods: kubernetesPods, kubernetes: true }), { POD_NAMESPACE: 'db' });
    assert.equal(result.status, 0, result.output);
    assert.deepEqual(
      result.warnings.filter((line) => !isOfflineDnsWarning(line)),
      [],
      result.output,
    );
    // The ${POD_NAMESPACE} reference was expanded from the environment.
    assert.match(result.output, /mysql-ha-0\.mysql-ha\.db\.svc\.cluster\.local/);
  });

  it('the file committed in manifests/ too', () => {
    const committed = readFileSync('manifests/haproxy/haproxy.cfg', 'utf8');
    const result = haproxyCheck(committed, { POD_NAMESPACE: 'db' });
    assert.equal(result.status, 0, result.output);
    assert.deepEqual(
      result.warnings.filter((line) => !isOfflineDnsWarning(line)),
      [],
      result.output,
    );
  });
});

describe('mysql-ha-agent haproxy-config', () => {
  it('derives the pods of a StatefulSet, with cluster-DNS names under --kubernetes', () => {
    const plain = cli(['haproxy-config', '--statefulset', 'db', '--service', 'db-hl', '--replicas', '2']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /server db-0 "db-0\.db-hl:3306" check port 8080/);
    assert.match(plain.stdout, /server db-1 "db-1\.db-hl:3306" check port 8080/);
    assert.doesNotMatch(plain.stdout, /db-2/);

    const kube = cli(['haproxy-config', '--statefulset', 'db', '--kubernetes', '--namespace', 'prod', '--cluster-domain', 'example.internal']);
    assert.equal(kube.status, 0, kube.stderr);
    assert.match(kube.stdout, /server db-2 "db-2\.db\.prod\.svc\.example\.internal:3306"/);
    assert.match(kube.stdout, /parse-resolv-conf/);

    const srv = cli(['haproxy-config', '--statefulset', 'db', '--service', 'db-hl', '--kubernetes', '--namespace', 'prod', '--srv-slots', '5']);
    assert.equal(srv.status, 0, srv.stderr);
    assert.match(srv.stdout, /server-template db-slot 5 "_mysql\._tcp\.db-hl\.prod\.svc\.cluster\.local" check port 8080/);
    assert.doesNotMatch(srv.stdout, /^\s+server db-/m);
  });

  it('takes explicit pods and options, and writes --output with the command in its header', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-cli-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      const args = [
        'haproxy-config',
        '--pods',
        'a-0=127.0.0.2,a-1=127.0.0.3',
        '--write-port',
        '7001',
        '--read-port',
        '7002',
        '--stats-port',
        '7003',
        '--max-lag',
        '5',
        '--bind',
        '127.0.0.1',
      ];
      const written = cli([...args, '--output', file]);
      assert.equal(written.status, 0, written.stderr);
      assert.equal(written.stdout, '');
      const printed = cli(args);
      assert.equal(readFileSync(file, 'utf8'), printed.stdout);
      assert.match(printed.stdout, new RegExp(`^# haproxy\\.cfg for mysql-ha, generated by: mysql-ha-agent ${args.join(' ').replaceAll('.', '\\.')}\\n`));
      assert.match(printed.stdout, /bind "127\.0\.0\.1:7001"/);
      assert.match(printed.stdout, /uri \/read-only\?lag=5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [args, message] of [
    [[], /exactly one of --pods or --statefulset/],
    [['--pods', 'a=1', '--statefulset', 'b'], /exactly one of --pods or --statefulset/],
    [['--pods', 'nohost'], /not NAME=HOST/],
    [['--statefulset', 'a', '--replicas', 'three'], /--replicas must be a whole number/],
    [['--statefulset', 'a', '--write-port', '0'], /--write-port must be a whole number from 1 to 65535/],
    [['--statefulset', 'a', '--namespace', 'x'], /--namespace only applies with --statefulset and --kubernetes/],
    [['--statefulset', 'a', '--dns-server', '1.2.3.4:53'], /--dns-server only applies with --kubernetes/],
    [['--statefulset', 'a', '--read-port', '6446'], /must differ/],
    [['--statefulset', 'a', '--srv-slots', '9'], /--srv-slots only applies with --statefulset and --kubernetes/],
    [['--statefulset', 'a', '--kubernetes', '--replicas', '3', '--srv-slots', '9'], /replaces --replicas/],
    [['--statefulset', 'a', '--bogus'], /Unknown option '--bogus'/],
    [['--statefulset', 'a', 'extra'], /positional argument/],
  ] as const) {
    it(`exits 2 with a clear message for: ${args.join(' ') || '(no arguments)'}`, () => {
      const result = cli(['haproxy-config', ...args]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /haproxy-config --help/);
      assert.equal(result.stdout, '');
    });
  }

  it('exits 1 and says which file it could not write', () => {
    const result = cli(['haproxy-config', '--statefulset', 'a', '--output', '/nonexistent-dir/haproxy.cfg']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /cannot write the HAProxy config to \/nonexistent-dir\/haproxy\.cfg/);
    assert.match(result.stderr, /what to do:/);
  });
});
