import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { failureDetectionSeconds, haproxyDefaults, healthCheck, renderHaproxyConfig, resolversName } from '../../agent/haproxy/config.ts';
import { haproxyCheck, isOfflineDnsWarning } from '../support/haproxy-check.ts';

const pods = [0, 1, 2].map((i) => ({ name: `mysql-ha-${i}`, host: `10.0.0.${i + 10}` }));
const kubernetesPods = [0, 1, 2].map((i) => ({ name: `mysql-ha-${i}`, host: `mysql-ha-${i}.mysql-ha.\${POD_NAMESPACE}.svc.cluster.local` }));

/** The lines of one section, from its header to the next blank line. */
function section(config: string, header: string): string[] {
  const lines = config.split('\n');
  const start = lines.indexOf(header);
  assert.notEqual(start, -1, `no "${header}" section in:\n${config}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end === -1 ? undefined : end);
}

const cli = (args: string[]) => spawnSync(process.execPath, ['agent/cli.ts', ...args], { encoding: 'utf8' });

describe('renderHaproxyConfig', () => {
  const config = renderHaproxyConfig({ pods });

  it('sends writes only to the pod whose agent answers /primary, and drops its sessions when it goes down', () => {
    assert.ok(section(config, 'frontend mysql-write').includes(`    bind "0.0.0.0:${haproxyDefaults.writePort}"`));
    const backend = section(config, 'backend mysql-primary');
    assert.ok(backend.includes('    balance first'));
    assert.ok(backend.includes('    option httpchk'));
    assert.ok(backend.includes('    http-check send meth GET uri /primary'));
    assert.ok(backend.includes('    http-check expect status 200'));
    assert.ok(backend.some((line) => line.startsWith('    default-server ') && line.includes('on-marked-down shutdown-sessions')));
    for (const pod of pods) {
      assert.ok(backend.includes(`    server ${pod.name} "${pod.host}:3306" check port 8080`), `${pod.name} missing from ${backend.join('\n')}`);
    }
  });

  it('spreads reads round-robin over every pod within the lag limit, the primary included', () => {
    const custom = renderHaproxyConfig({ pods, maxLagSeconds: 7 });
    assert.ok(section(custom, 'frontend mysql-read').includes(`    bind "0.0.0.0:${haproxyDefaults.readPort}"`));
    const backend = section(custom, 'backend mysql-readable');
    assert.ok(backend.includes('    balance roundrobin'));
    assert.ok(backend.includes('    http-check send meth GET uri /read-only?lag=7'));
    assert.ok(backend.includes('    http-check expect status 200'));
    assert.ok(backend.some((line) => line.includes('on-marked-down shutdown-sessions')));
    assert.equal(backend.filter((line) => line.startsWith('    server ')).length, pods.length);
  });

  it('uses short checks and states the detection time it implies', () => {
    assert.equal(failureDetectionSeconds, (healthCheck.intervalMs + (healthCheck.fall - 1) * healthCheck.fastIntervalMs + healthCheck.timeoutMs) / 1000);
    assert.equal(failureDetectionSeconds, 2.25);
    assert.match(config, new RegExp(`default-server inter 1s fastinter 250ms downinter 500ms fall ${healthCheck.fall} rise ${healthCheck.rise} `));
    assert.match(config, /timeout check 1s/);
    assert.match(config, new RegExp(`at most ${failureDetectionSeconds}s after its agent stops answering 200`));
  });

  it('serves a stats page', () => {
    const stats = section(config, 'frontend stats');
    assert.ok(stats.includes(`    bind "0.0.0.0:${haproxyDefaults.statsPort}"`));
    assert.ok(stats.includes('    stats enable'));
    assert.ok(stats.includes('    stats uri /stats'));
    assert.ok(stats.includes('    mode http'));
  });

  it('honours custom ports, agent port and bind address', () => {
    const custom = renderHaproxyConfig({ pods, writePort: 7001, readPort: 7002, statsPort: 7003, mysqlPort: 3307, agentPort: 9000, bindAddress: '::' });
    assert.match(custom, /bind "\[::\]:7001"/);
    assert.match(custom, /bind "\[::\]:7002"/);
    assert.match(custom, /bind "\[::\]:7003"/);
    assert.match(custom, /server mysql-ha-0 "10\.0\.0\.10:3307" check port 9000/);
  });

  it('without kubernetes has no resolvers; with it, follows pod IP changes through the cluster DNS', () => {
    assert.doesNotMatch(config, /resolvers|init-addr/);
    const kube = renderHaproxyConfig({ pods: kubernetesPods, kubernetes: true });
    const resolvers = section(kube, `resolvers ${resolversName}`);
    assert.ok(resolvers.includes('    parse-resolv-conf'));
    for (const backend of ['backend mysql-primary', 'backend mysql-readable']) {
      assert.ok(section(kube, backend).some((line) => line.includes(`resolvers ${resolversName} init-addr last,libc,none`)));
    }
    const pinned = renderHaproxyConfig({ pods: kubernetesPods, kubernetes: true, dnsServer: '10.96.0.10:53' });
    assert.ok(section(pinned, `resolvers ${resolversName}`).includes('    nameserver dns1 10.96.0.10:53'));
    assert.doesNotMatch(pinned, /parse-resolv-conf/);
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
  });
});

describe('docs/kubernetes.md', () => {
  it('states the failure detection time the config implies', () => {
    const docs = readFileSync('docs/kubernetes.md', 'utf8');
    assert.match(docs, new RegExp(`at most\\s+${failureDetectionSeconds} seconds\\s+after its agent stops answering 200`));
    assert.match(docs, new RegExp(`within the stated ${failureDetectionSeconds} s`));
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
