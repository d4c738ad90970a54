// The Kubernetes manifests, checked without a cluster: rendered by kubectl's kustomize,
// validated against the API's schemas (and for unknown fields), then held to the
// invariants a user relies on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { agentImage, serverImage, serverVariant } from '../../agent/containers/images.ts';
import { haproxyDefaults } from '../../agent/haproxy/config.ts';
import { roleLabelKey } from '../../agent/kubernetes/role-label.ts';
import { CNF_FILE } from '../../agent/pod/stage.ts';
import { validateAgainstSchema } from '../support/kubernetes-schemas.ts';
import { kustomizeBuild, type ManifestObject } from '../support/kustomize.ts';
import { admits, isolates, type PolicyPod } from '../support/network-policy.ts';
import { unknownFields } from '../support/unknown-fields.ts';

const requiredLabels = {
  'app.kubernetes.io/name': 'mysql-ha',
  'app.kubernetes.io/instance': 'mysql-ha',
  'app.kubernetes.io/part-of': 'mysql-ha',
};
const secretKeys = ['agent-password', 'replication-password', 'app-password', 'admin-password', 'switchover-token'];
const leastPrivilege = [
  '|pods|get',
  '|pods|patch',
  '|events|create',
  'apps|statefulsets|get',
  'coordination.k8s.io|leases|get',
  'coordination.k8s.io|leases|update',
];

/** Lookups over one rendered set of objects. */
class Rendered {
  readonly objects: ManifestObject[];
  constructor(objects: ManifestObject[]) {
    this.objects = objects;
  }
  ofKind<T>(kind: string): T[] {
    return this.objects.filter((object) => object.kind === kind) as unknown as T[];
  }
  one<T>(kind: string, name: string): T {
    const found = this.objects.find((object) => object.kind === kind && object.metadata.name === name);
    assert.ok(found, `no ${kind} ${name} in the rendered manifests`);
    return found as unknown as T;
  }
  /** A generated ConfigMap or Secret, whose name carries a content hash. */
  generated<T>(kind: string, name: string): T {
    const found = this.objects.filter((object) => object.kind === kind && new RegExp(`^${name}-[a-z0-9]{10}$`).test(object.metadata.name));
    assert.equal(found.length, 1, `expected one generated ${kind} ${name}-<hash>`);
    return found[0] as unknown as T;
  }
}

function podSpecOf(workload: IStatefulSet | IDeployment): IPodSpec {
  const spec = workload.spec?.template.spec;
  assert.ok(spec, `${workload.metadata?.name} has no pod template`);
  return spec;
}

function container(spec: IPodSpec, name: string, init = false): IContainer {
  const found = (init ? spec.initContainers : spec.containers)?.find((candidate) => candidate.name === name);
  assert.ok(found, `no ${init ? 'init ' : ''}container ${name}`);
  return found;
}

function allContainers(spec: IPodSpec): IContainer[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

function mountPath(c: IContainer, volume: string): string | undefined {
  return c.volumeMounts?.find((mount) => mount.name === volume)?.mountPath;
}

function argAfter(args: string[], flag: string): string {
  const index = args.indexOf(flag);
  assert.notEqual(index, -1, `${flag} missing from ${args.join(' ')}`);
  return args[index + 1]!;
}

function selectorMatches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return selector !== undefined && Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** Every object rendered by kustomize passes the OpenAPI schemas, with no unknown fields. */
function assertValidObjects(rendered: Rendered): void {
  for (const object of rendered.objects) {
    assert.doesNotThrow(() => validateAgainstSchema(object), `${object.kind} ${object.metadata.name}`);
    assert.deepEqual(unknownFields(object), [], `${object.kind} ${object.metadata.name}`);
  }
}

describe('manifests/ (the kustomize base)', () => {
  let base: Rendered;
  let statefulSet: IStatefulSet;
  let pod: IPodSpec;
  let agentSettings: Record<string, string>;

  before(() => {
    base = new Rendered(kustomizeBuild('manifests'));
    statefulSet = base.one<IStatefulSet>('StatefulSet', 'mysql-ha');
    pod = podSpecOf(statefulSet);
    agentSettings = base.generated<IConfigMap>('ConfigMap', 'mysql-ha-agent').data ?? {};
  });

  it('renders the expected objects, and nothing namespaced to one namespace', () => {
    const names = base.objects.map((object) => `${object.kind}/${object.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
    assert.deepEqual(names, [
      'ConfigMap/mysql-ha-agent-<hash>',
      'ConfigMap/mysql-ha-haproxy-<hash>',
      'Deployment/mysql-ha-haproxy',
      'Lease/mysql-ha-leader',
      'NetworkPolicy/mysql-ha',
      'NetworkPolicy/mysql-ha-haproxy',
      'PodDisruptionBudget/mysql-ha',
      'PodDisruptionBudget/mysql-ha-haproxy',
      'Role/mysql-ha-agent',
      'RoleBinding/mysql-ha-agent',
      'Service/mysql-ha',
      'Service/mysql-ha-primary',
      'Service/mysql-ha-read',
      'ServiceAccount/mysql-ha',
      'StatefulSet/mysql-ha',
    ]);
    for (const object of base.objects) assert.equal(object.metadata.namespace, undefined, `${object.kind} ${object.metadata.name} sets a namespace`);
  });

  it('validates every object against the Kubernetes OpenAPI schemas, with no unknown fields', () => assertValidObjects(base));

  it("mysqld's tmpdir volume has its room reserved on the node: the mysql container requests the volume's sizeLimit", () => {
    const mysql = container(pod, 'mysql');
    const tmp = pod.volumes?.find((volume) => volume.name === 'tmp');
    assert.equal(mountPath(mysql, 'tmp'), '/tmp');
    assert.ok(tmp?.emptyDir?.sizeLimit, 'the tmp emptyDir has no sizeLimit');
    assert.equal(mysql.resources?.requests?.['ephemeral-storage'], tmp.emptyDir.sizeLimit);
  });

  it('the validation does catch a broken object and a misspelt field', () => {
    const broken = structuredClone(statefulSet) as unknown as ManifestObject;
    (broken.spec as { replicas: unknown }).replicas = 'three';
    assert.throws(() => validateAgainstSchema(broken), /replicas must be integer/);
    const misspelt = structuredClone(statefulSet);
    Object.assign(podSpecOf(misspelt).containers[0]!, { readinesProbe: {} });
    assert.deepEqual(unknownFields(misspelt as unknown as ManifestObject), [
      'StatefulSet.spec.template.spec.containers[0].readinesProbe: unknown field (not in V1Container)',
    ]);
    assert.throws(() => validateAgainstSchema({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'x' } }), /has no schema/);
  });

  it('labels every object, pod template and volume claim with the app.kubernetes.io labels', () => {
    const check = (labels: Record<string, string> | undefined, where: string) => {
      for (const [key, value] of Object.entries(requiredLabels)) assert.equal(labels?.[key], value, `${where}: ${key}`);
      assert.match(labels?.['app.kubernetes.io/component'] ?? '', /^(database|proxy)$/, `${where}: app.kubernetes.io/component`);
    };
    for (const object of base.objects) check(object.metadata.labels, `${object.kind} ${object.metadata.name}`);
    for (const workload of [statefulSet, base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')]) {
      check(workload.spec?.template.metadata?.labels, `${workload.metadata?.name} pod template`);
    }
    for (const claim of statefulSet.spec?.volumeClaimTemplates ?? []) check(claim.metadata?.labels, `volume claim ${claim.metadata?.name}`);
  });

  it('runs a 3-pod StatefulSet behind its headless Service, which publishes pods before they are ready', () => {
    assert.equal(statefulSet.spec?.replicas, 3);
    assert.equal(statefulSet.spec?.serviceName, 'mysql-ha');
    const headless = base.one<IService>('Service', 'mysql-ha');
    assert.equal(headless.spec?.clusterIP, 'None');
    assert.equal(headless.spec?.publishNotReadyAddresses, true);
    assert.ok(selectorMatches(headless.spec?.selector, statefulSet.spec?.template.metadata?.labels));
    assert.ok(selectorMatches(statefulSet.spec?.selector.matchLabels, statefulSet.spec?.template.metadata?.labels));
    // The agents find their peers from these two settings.
    assert.equal(Number(agentSettings.MYSQL_HA_REPLICAS), statefulSet.spec?.replicas);
    assert.equal(agentSettings.MYSQL_HA_SERVICE, statefulSet.spec?.serviceName);
  });

  it('probes the agent: readiness on /readiness, liveness on /liveness (never the lag-sensitive one), on its HTTP port', () => {
    const agent = container(pod, 'agent');
    assert.deepEqual(agent.args, ['run']);
    assert.equal(agent.readinessProbe?.httpGet?.path, '/readiness');
    assert.equal(agent.livenessProbe?.httpGet?.path, '/liveness');
    for (const probe of [agent.readinessProbe, agent.livenessProbe]) {
      const port = agent.ports?.find((candidate) => candidate.name === probe?.httpGet?.port);
      assert.equal(port?.containerPort, Number(agentSettings.MYSQL_HA_HTTP_PORT ?? 8080));
      assert.equal(port?.containerPort, haproxyDefaults.agentPort);
    }
  });

  it('a deleted pod hands over before mysqld stops: a preStop hook, the may-stop file on a shared volume, a grace period covering both limits', () => {
    const mysql = container(pod, 'mysql');
    const agent = container(pod, 'agent');
    const hook = mysql.lifecycle?.preStop?.exec?.command;
    assert.deepEqual(hook, ['/usr/local/bin/mysql-ha-pre-stop.sh']);
    const script = readFileSync('images/mysql-pre-stop.sh', 'utf8');
    const hookFile = /MYSQL_HA_MYSQLD_MAY_STOP_FILE:-([^}]+)\}/.exec(script)?.[1];
    const hookLimitSeconds = Number(/MYSQL_HA_PRE_STOP_LIMIT_SECONDS:-(\d+)\}/.exec(script)?.[1]);
    assert.equal(agentSettings.MYSQL_HA_MYSQLD_MAY_STOP_FILE, hookFile, 'the agent writes the file the hook waits for');
    const directory = posix.dirname(hookFile!);
    assert.equal(mountPath(mysql, 'run'), directory);
    assert.equal(mountPath(agent, 'run'), directory);
    const terminationSeconds = Number(agentSettings.MYSQL_HA_TERMINATION_TIMEOUT_MS ?? 40_000) / 1000;
    assert.ok(hookLimitSeconds > terminationSeconds, 'the hook waits at least as long as the agent may take to hand over');
    // mysqld still needs time for a clean shutdown after the hook.
    assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= hookLimitSeconds + 60, `grace ${pod.terminationGracePeriodSeconds} s`);
    assert.equal(
      agent.env?.find((variable) => variable.name === 'POD_REVISION')?.valueFrom?.fieldRef?.fieldPath,
      "metadata.labels['controller-revision-hash']",
      'the agent knows its pod revision, to prefer updated replicas in a rolling update',
    );
  });

  it("gives the agent its pod's tag annotations, each as the setting it reads", () => {
    const agent = container(pod, 'agent');
    const fromAnnotation = (name: string) => agent.env?.find((variable) => variable.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.equal(fromAnnotation('MYSQL_HA_NOFAILOVER'), "metadata.annotations['mysql-ha.io/nofailover']");
    assert.equal(fromAnnotation('MYSQL_HA_FAILOVER_PRIORITY'), "metadata.annotations['mysql-ha.io/failover-priority']");
    // A pod without them gets them empty, which the agent takes as unset (test/unit/config.test.ts).
    assert.equal(fromAnnotation('MYSQL_HA_NOLOADBALANCE'), "metadata.annotations['mysql-ha.io/noloadbalance']");
  });

  it('a startup probe holds the liveness probe back until the agent first answers', () => {
    const agent = container(pod, 'agent');
    assert.equal(agent.startupProbe?.httpGet?.path, '/liveness');
    assert.ok((agent.startupProbe?.periodSeconds ?? 10) * (agent.startupProbe?.failureThreshold ?? 3) >= 300, 'at least 5 minutes');
  });

  it('stages the cnf and init SQL in two emptyDirs that mysqld mounts at the same paths, where its entrypoint looks', () => {
    const stage = container(pod, 'stage', true);
    const mysql = container(pod, 'mysql');
    const args = stage.args ?? [];
    assert.equal(args[0], 'stage');
    const confDir = argAfter(args, '--conf-dir');
    const initDir = argAfter(args, '--init-dir');
    assert.equal(mountPath(stage, 'conf'), confDir);
    assert.equal(mountPath(stage, 'init'), initDir);
    assert.equal(mountPath(mysql, 'conf'), confDir, 'mysqld must see the cnf where stage wrote it');
    assert.equal(mountPath(mysql, 'init'), initDir, 'the cnf names the init SQL by its path in the init container');
    for (const name of ['conf', 'init']) {
      assert.ok(pod.volumes?.find((volume) => volume.name === name)?.emptyDir, `volume ${name} is not an emptyDir`);
    }
    const entrypoint = readFileSync('images/mysql-entrypoint.sh', 'utf8');
    const defaultCnf = /cnf="\$\{MYSQL_HA_CNF:-([^}]+)\}"/.exec(entrypoint)?.[1];
    assert.equal(defaultCnf, posix.join(confDir, CNF_FILE));
    const defaultDatadir = /datadir="\$\{MYSQL_HA_DATADIR:-([^}]+)\}"/.exec(entrypoint)?.[1];
    assert.equal(mountPath(mysql, 'data'), defaultDatadir);
  });

  it("lets the agent copy a MariaDB pod: it sees the data volume where mysqld has it, and the tmp volume for the backup tool's buffer", () => {
    const mysql = container(pod, 'mysql');
    const agent = container(pod, 'agent');
    assert.equal(mountPath(agent, 'data'), mountPath(mysql, 'data'), "a donor's mariadb-backup reads the files at the datadir mysqld reports");
    assert.equal(mountPath(agent, 'tmp'), '/tmp');
    assert.equal(agent.securityContext?.readOnlyRootFilesystem, true);
  });

  it('keeps data on a ReadWriteOnce volume claim per pod', () => {
    const claim = statefulSet.spec?.volumeClaimTemplates?.find((candidate) => candidate.metadata?.name === 'data');
    assert.deepEqual(claim?.spec?.accessModes, ['ReadWriteOnce']);
    assert.ok(claim?.spec?.resources?.requests?.storage);
  });

  it('takes credentials only from the Secret, mounted as files', () => {
    for (const workload of [statefulSet, base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')]) {
      for (const c of allContainers(podSpecOf(workload))) {
        for (const variable of c.env ?? []) {
          if (/PASSWORD/i.test(variable.name) && !variable.name.endsWith('_FILE')) {
            assert.ok(variable.valueFrom?.secretKeyRef, `${c.name}: ${variable.name} holds a password in plain text`);
          }
        }
      }
    }
    for (const configMap of base.ofKind<IConfigMap>('ConfigMap')) {
      for (const key of Object.keys(configMap.data ?? {}).filter((k) => /PASSWORD/i.test(k))) {
        assert.ok(key.endsWith('_FILE'), `ConfigMap ${configMap.metadata?.name}: ${key} holds a password in plain text`);
      }
    }
    assert.deepEqual(base.ofKind('Secret'), [], 'the base must not carry a Secret (not even a fake one)');

    const secretVolume = pod.volumes?.find((volume) => volume.secret?.secretName === 'mysql-ha-credentials');
    assert.ok(secretVolume, 'no volume from Secret mysql-ha-credentials');
    assert.equal(secretVolume.secret?.defaultMode, 0o440);
    const fileSettings = Object.entries(agentSettings).filter(([key]) => key.endsWith('_PASSWORD_FILE'));
    assert.deepEqual(fileSettings.map(([key]) => key).sort(), [
      'MYSQL_HA_ADMIN_PASSWORD_FILE',
      'MYSQL_HA_AGENT_PASSWORD_FILE',
      'MYSQL_HA_APP_PASSWORD_FILE',
      'MYSQL_HA_REPLICATION_PASSWORD_FILE',
    ]);
    for (const c of [container(pod, 'stage', true), container(pod, 'agent')]) {
      const mounted = mountPath(c, secretVolume.name);
      assert.ok(mounted, `${c.name} does not mount the Secret`);
      for (const [key, path] of fileSettings) {
        assert.equal(posix.dirname(path), mounted, `${key}=${path} is not in the Secret's mount`);
        assert.ok(secretKeys.includes(posix.basename(path)), `${key}=${path} names no key of the Secret (${secretKeys.join(', ')})`);
      }
    }
  });

  it('sets only agent settings the agent reads', () => {
    const configSource = readFileSync('agent/config.ts', 'utf8');
    for (const key of Object.keys(agentSettings)) {
      assert.ok(configSource.includes(key.replace(/_FILE$/, '')), `${key} is not read by agent/config.ts`);
    }
    assert.match(configSource, /`\$\{name\}_FILE`/, 'agent/config.ts reads *_FILE secrets');
    assert.equal(agentSettings.MYSQL_HA_MYSQL_HOST, '127.0.0.1');
    for (const c of [container(pod, 'stage', true), container(pod, 'agent')]) {
      assert.equal(c.env?.find((variable) => variable.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
      assert.match(c.envFrom?.[0]?.configMapRef?.name ?? '', /^mysql-ha-agent-[a-z0-9]{10}$/);
    }
    assert.equal(container(pod, 'agent').env?.find((variable) => variable.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  });

  it("points the primary Service at the pod the agent labels primary, with the adapter's label key", () => {
    const primary = base.one<IService>('Service', 'mysql-ha-primary');
    const { [roleLabelKey]: role, ...rest } = primary.spec?.selector ?? {};
    assert.equal(role, 'primary');
    assert.ok(selectorMatches(rest, statefulSet.spec?.template.metadata?.labels));
    assert.equal(primary.spec?.ports?.[0]?.targetPort, 'mysql');
    assert.ok(container(pod, 'mysql').ports?.some((port) => port.name === 'mysql' && port.containerPort === 3306));
  });

  it("grants the agent exactly the least privilege it needs, bound to the pods' ServiceAccount", () => {
    const role = base.one<IRole>('Role', 'mysql-ha-agent');
    const grants = (role.rules ?? []).flatMap((rule) =>
      (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${group}|${resource}|${verb}`))),
    );
    assert.deepEqual(grants.sort(), [...leastPrivilege].sort());
    // Every grant that can name its objects does: the StatefulSet's pods, the cluster's Lease.
    const podNames = Array.from({ length: 9 }, (_, ordinal) => `${statefulSet.metadata?.name}-${ordinal}`);
    for (const rule of role.rules ?? []) {
      if (rule.verbs.includes('create')) {
        assert.equal(rule.resourceNames, undefined, 'RBAC cannot restrict a create by name');
        continue;
      }
      const expected = rule.resources?.includes('pods')
        ? podNames
        : rule.resources?.includes('statefulsets')
          ? [statefulSet.metadata?.name]
          : [`${statefulSet.metadata?.name}-leader`];
      assert.deepEqual(rule.resourceNames, expected, `${rule.resources}: ${rule.verbs} not limited to ${expected.join(', ')}`);
    }
    // The one Lease the agents hold comes with the manifests, empty: they never need to create it.
    const lease = base.one<ManifestObject>('Lease', `${statefulSet.metadata?.name}-leader`);
    assert.deepEqual(lease.spec, {}, 'the shipped Lease names no holder');
    const binding = base.one<IRoleBinding>('RoleBinding', 'mysql-ha-agent');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mysql-ha-agent' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName }]);
    base.one('ServiceAccount', pod.serviceAccountName!);
    assert.equal(podSpecOf(base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')).automountServiceAccountToken, false, 'HAProxy needs no API token');
  });

  it('lets peers, HAProxy and labelled clients in, on their ports only; the agent API and the stats page are closed to everyone else', () => {
    const policies = base.ofKind<INetworkPolicy>('NetworkPolicy');
    const haproxySpec = podSpecOf(base.one<IDeployment>('Deployment', 'mysql-ha-haproxy'));
    const podOf = (labels: Record<string, string>, spec?: IPodSpec, namespaceLabels: Record<string, string> = {}, sameNamespace = true): PolicyPod => ({
      labels,
      namespaceLabels,
      sameNamespace,
      ports: Object.fromEntries((spec ? allContainers(spec) : []).flatMap((c) => (c.ports ?? []).map((p) => [p.name ?? '', p.containerPort]))),
    });
    const database = podOf(statefulSet.spec?.template.metadata?.labels ?? {}, pod);
    const proxy = podOf(base.one<IDeployment>('Deployment', 'mysql-ha-haproxy').spec?.template.metadata?.labels ?? {}, haproxySpec);
    const client = { 'mysql-ha.io/client': 'true' };
    const sources: Record<string, PolicyPod> = {
      'a peer': database,
      HAProxy: proxy,
      'a labelled client pod': podOf(client),
      'a pod of a labelled client namespace': podOf({}, undefined, client, false),
      'an unlabelled pod of this namespace': podOf({ app: 'other' }),
      'a labelled pod of an unlabelled other namespace': podOf(client, undefined, {}, false),
    };
    const [mysqlPort, agentPort] = [database.ports!.mysql!, database.ports!.agent!];
    const [writePort, readPort, statsPort] = [proxy.ports!.write!, proxy.ports!.read!, proxy.ports!.stats!];
    const expected: Array<[string, PolicyPod, number, string[]]> = [
      ['mysqld', database, mysqlPort, ['a peer', 'HAProxy', 'a labelled client pod', 'a pod of a labelled client namespace']],
      ['the agent API', database, agentPort, ['a peer', 'HAProxy']],
      ['HAProxy writes', proxy, writePort, ['a labelled client pod', 'a pod of a labelled client namespace']],
      ['HAProxy reads', proxy, readPort, ['a labelled client pod', 'a pod of a labelled client namespace']],
      ['the stats page', proxy, statsPort, []],
    ];
    for (const [what, target, port, allowed] of expected) {
      const admitted = Object.entries(sources)
        .filter(([, source]) => admits(policies, source, target, port))
        .map(([name]) => name);
      assert.deepEqual(admitted, allowed, `${what} (port ${port})`);
    }
    // Every port a policy names is a port of the pods it selects (a renamed port would silently close).
    for (const policy of policies) {
      const target = [database, proxy].find((candidate) => isolates(policy, candidate));
      assert.ok(target, `${policy.metadata?.name} selects neither the database nor the HAProxy pods`);
      for (const rule of policy.spec?.ingress ?? []) {
        for (const { port } of rule.ports ?? []) {
          assert.ok(typeof port === 'string' && target.ports?.[port] !== undefined, `${policy.metadata?.name}: port ${port} is no named port of its pods`);
        }
      }
    }
  });

  it("pins every image to a version, never latest; the project's images to package.json's version", () => {
    for (const workload of [statefulSet, base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')]) {
      for (const c of allContainers(podSpecOf(workload))) {
        assert.match(c.image ?? '', /^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/, `${c.name}: image ${c.image} is not pinned`);
        assert.doesNotMatch(c.image ?? '', /:latest$/);
      }
    }
    assert.equal(container(pod, 'agent').image, container(pod, 'stage', true).image);
    for (const c of [container(pod, 'agent'), container(pod, 'mysql')]) {
      assert.ok(c.image?.endsWith(`:${packageVersion}`), `${c.name}: ${c.image} is not tagged ${packageVersion}`);
    }
  });

  it('spreads pods over zones and nodes, and limits voluntary disruption to one pod at a time', () => {
    for (const workload of [statefulSet, base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')]) {
      const spec = podSpecOf(workload);
      const name = workload.metadata?.name;
      const zone = spec.topologySpreadConstraints?.find((constraint) => constraint.topologyKey === 'topology.kubernetes.io/zone');
      assert.ok(zone, `${name}: no zone spread`);
      assert.ok(selectorMatches(zone.labelSelector?.matchLabels, workload.spec?.template.metadata?.labels));
      // Database pods: one per node, required (one node lost must never take two); HAProxy: preferred.
      const antiAffinity =
        workload === statefulSet
          ? spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]
          : spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
      assert.equal(antiAffinity?.topologyKey, 'kubernetes.io/hostname', `${name}: no anti-affinity per node`);
      assert.ok(selectorMatches(antiAffinity?.labelSelector?.matchLabels, workload.spec?.template.metadata?.labels));
      const budgets = base
        .ofKind<IPodDisruptionBudget>('PodDisruptionBudget')
        .filter((budget) => selectorMatches(budget.spec?.selector?.matchLabels, workload.spec?.template.metadata?.labels));
      assert.equal(budgets.length, 1, `${name}: expected one PodDisruptionBudget`);
      assert.equal(budgets[0]!.spec?.maxUnavailable, 1);
    }
  });

  it('runs every container unprivileged, with resources and a grace period', () => {
    for (const workload of [statefulSet, base.one<IDeployment>('Deployment', 'mysql-ha-haproxy')]) {
      const spec = podSpecOf(workload);
      assert.equal(spec.securityContext?.runAsNonRoot, true, `${workload.metadata?.name}: runAsNonRoot`);
      assert.ok((spec.securityContext?.runAsUser ?? 0) > 0);
      for (const c of allContainers(spec)) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${c.name}: capabilities`);
        assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${c.name}: resource requests`);
        assert.ok(c.resources?.limits?.memory, `${c.name}: memory limit`);
      }
    }
    // The init SQL is 0640 for mysqld's group: every container shares uid/gid 999 and fsGroup 999.
    assert.equal(pod.securityContext?.runAsUser, 999);
    assert.equal(pod.securityContext?.fsGroup, 999);
  });

  it('fronts HAProxy with mysql-ha-read on its write and read ports', () => {
    const deployment = base.one<IDeployment>('Deployment', 'mysql-ha-haproxy');
    assert.equal(deployment.spec?.replicas, 2);
    const haproxy = container(podSpecOf(deployment), 'haproxy');
    const read = base.one<IService>('Service', 'mysql-ha-read');
    assert.ok(selectorMatches(read.spec?.selector, deployment.spec?.template.metadata?.labels));
    const servicePorts = Object.fromEntries((read.spec?.ports ?? []).map((port) => [port.name, port.port]));
    assert.deepEqual(servicePorts, { write: haproxyDefaults.writePort, read: haproxyDefaults.readPort });
    for (const port of read.spec?.ports ?? []) {
      const target = haproxy.ports?.find((candidate) => candidate.name === port.targetPort);
      assert.equal(target?.containerPort, port.port, `targetPort ${port.targetPort}`);
    }
    assert.equal(haproxy.ports?.find((port) => port.name === 'stats')?.containerPort, haproxyDefaults.statsPort);
    assert.equal(haproxy.readinessProbe?.httpGet?.path, '/healthz');
    assert.equal(haproxy.env?.find((variable) => variable.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  });

  it('gives HAProxy the committed haproxy.cfg, which is exactly what its generating command prints today', () => {
    const args = haproxyConfigArgs(base, 'manifests/haproxy/haproxy.cfg');
    assert.equal(argAfter(args, '--statefulset'), statefulSet.metadata?.name);
    assert.equal(argAfter(args, '--service'), statefulSet.spec?.serviceName);
    // HAProxy finds the pods through the headless Service's SRV record (its port named mysql),
    // with room for the pods the RBAC Role names: scaling needs no new config.
    assert.ok(!args.includes('--replicas'), 'the pods are listed by hand, not found through DNS');
    assert.equal(Number(argAfter(args, '--srv-slots')), 9);
    assert.ok(base.one<IService>('Service', statefulSet.spec?.serviceName ?? '').spec?.ports?.some((port) => port.name === 'mysql' && port.port === 3306));
    assert.ok(args.includes('--kubernetes'));
    assert.ok(!args.includes('--agent-ca'), 'the base agents serve plain HTTP (examples/tls turns HTTPS on)');
  });
});

/** An overlay's describe: rendered once, its objects validated, then `checks` with the rendered overlay. */
/**
 * The haproxy.cfg HAProxy's Deployment mounts from its ConfigMap is the committed `file`, and
 * exactly what the command in its first line prints today; that command's arguments.
 */
function haproxyConfigArgs(rendered: Rendered, file: string): string[] {
  const committed = readFileSync(file, 'utf8');
  const configMap = rendered.generated<IConfigMap>('ConfigMap', 'mysql-ha-haproxy');
  assert.equal(configMap.data?.['haproxy.cfg'], committed);
  const spec = podSpecOf(rendered.one<IDeployment>('Deployment', 'mysql-ha-haproxy'));
  const volume = spec.volumes?.find((candidate) => candidate.configMap?.name === configMap.metadata?.name);
  assert.ok(volume, 'the Deployment does not mount the haproxy ConfigMap');
  assert.equal(mountPath(container(spec, 'haproxy'), volume.name), '/usr/local/etc/haproxy');

  const command = /^# haproxy\.cfg for mysql-ha, generated by: mysql-ha-agent (haproxy-config .*)$/m.exec(committed)?.[1];
  assert.ok(command, `${file} does not say which command generated it`);
  const args = command.split(' ');
  const output = spawnSync(process.execPath, ['agent/cli.ts', ...args], { encoding: 'utf8' });
  assert.equal(output.status, 0, output.stderr);
  assert.equal(committed, output.stdout, `${file} is stale: regenerate it with\n  node agent/cli.ts ${command} --output ${file}`);
  return args;
}

function describeOverlay(path: string, title: string, checks: (overlay: () => Rendered) => void): void {
  describe(`${path} (${title})`, () => {
    let overlay: Rendered;
    before(() => {
      overlay = new Rendered(kustomizeBuild(path));
    });

    it('renders valid objects', () => assertValidObjects(overlay));
    checks(() => overlay);
  });
}

describeOverlay('examples/dev-secret', 'overlay with a throwaway Secret', (overlay) => {
  it('generates the Secret the StatefulSet mounts, with the keys the agent reads and obviously fake values', () => {
    const secret = overlay().generated<ISecret>('Secret', 'mysql-ha-credentials');
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), [...secretKeys].sort());
    for (const value of Object.values(secret.data ?? {})) assert.match(Buffer.from(value, 'base64').toString('utf8'), /^not-secret-dev-/);
    const pod = podSpecOf(overlay().one<IStatefulSet>('StatefulSet', 'mysql-ha'));
    assert.ok(
      pod.volumes?.some((volume) => volume.secret?.secretName === secret.metadata?.name),
      'the StatefulSet does not mount the generated Secret',
    );
    for (const [key, value] of Object.entries(requiredLabels)) assert.equal(secret.metadata?.labels?.[key], value);
  });
});

for (const flavor of ['mysql', 'mariadb'] as const) {
  describeOverlay(`examples/${flavor}`, 'overlay naming the images npm run images builds', (overlay) => {
    const variant = serverVariant(flavor);
    it(`runs ${agentImage(variant)} and the ${flavor} server image the container suites test, with MYSQL_HA_FLAVOR=${flavor}`, () => {
      const pod = podSpecOf(overlay().one<IStatefulSet>('StatefulSet', 'mysql-ha'));
      const images = [...(pod.initContainers ?? []), ...pod.containers].map((container) => `${container.name}=${container.image}`);
      assert.deepEqual(images.sort(), [`agent=${agentImage(variant)}`, `mysql=${serverImage(variant)}`, `stage=${agentImage(variant)}`]);
      assert.equal(overlay().generated<IConfigMap>('ConfigMap', 'mysql-ha-agent').data?.MYSQL_HA_FLAVOR, flavor);
    });
  });
}

describeOverlay('examples/small-cluster', 'overlay for clusters with fewer nodes than pods', (overlay) => {
  it('only prefers one database pod per node, where the base requires it', () => {
    const antiAffinity = podSpecOf(overlay().one<IStatefulSet>('StatefulSet', 'mysql-ha')).affinity?.podAntiAffinity;
    assert.equal(antiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined);
    assert.equal(antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  });
});

describeOverlay('examples/tls', 'overlay mounting the certificate Secret', (overlay) => {
  it('mounts the Secret where MYSQL_HA_TLS_DIR points in the init container, mysqld and the agent, readable by group 999 only', () => {
    const pod = podSpecOf(overlay().one<IStatefulSet>('StatefulSet', 'mysql-ha'));
    const tlsDir = overlay().generated<IConfigMap>('ConfigMap', 'mysql-ha-agent').data?.MYSQL_HA_TLS_DIR;
    assert.equal(tlsDir, '/etc/mysql-ha/tls');
    const volume = pod.volumes?.find((candidate) => candidate.secret?.secretName === 'mysql-ha-tls');
    assert.ok(volume, 'no volume from the Secret mysql-ha-tls');
    assert.equal(volume.secret?.defaultMode, 0o440);
    for (const [name, init] of [
      ['stage', true],
      ['mysql', false],
      ['agent', false],
    ] as const) {
      assert.equal(mountPath(container(pod, name, init), volume.name), tlsDir, `${name} container`);
    }
  });

  it("probes the agent over HTTPS, which it serves with the Secret's certificate", () => {
    const agent = container(podSpecOf(overlay().one<IStatefulSet>('StatefulSet', 'mysql-ha')), 'agent');
    for (const probe of [agent.startupProbe, agent.readinessProbe, agent.livenessProbe]) {
      assert.equal(probe?.httpGet?.scheme, 'HTTPS', JSON.stringify(probe));
    }
  });

  it("has HAProxy check the agents over HTTPS with the Secret's CA, which is all of the Secret it is given", () => {
    const args = haproxyConfigArgs(overlay(), 'examples/tls/haproxy.cfg');
    const caFile = argAfter(args, '--agent-ca');
    const haproxy = podSpecOf(overlay().one<IDeployment>('Deployment', 'mysql-ha-haproxy'));
    const volume = haproxy.volumes?.find((candidate) => candidate.secret?.secretName === 'mysql-ha-tls');
    assert.ok(volume, 'HAProxy does not mount the Secret mysql-ha-tls');
    assert.deepEqual(volume.secret?.items, [{ key: 'ca.crt', path: 'ca.crt' }], "HAProxy needs the CA only, never the pods' key");
    assert.equal(`${mountPath(container(haproxy, 'haproxy'), volume.name)}/ca.crt`, caFile);
    // Everything else as in the base's config: only TLS differs.
    assert.deepEqual(
      args.filter((arg, index) => arg !== '--agent-ca' && args[index - 1] !== '--agent-ca'),
      haproxyConfigArgs(new Rendered(kustomizeBuild('manifests')), 'manifests/haproxy/haproxy.cfg'),
    );
  });
});
