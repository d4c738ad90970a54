// What a set of NetworkPolicies lets through, by the API's documented semantics: a pod selected
// by a policy with Ingress in its policyTypes is isolated, and then admits exactly what one of
// those policies' rules allows (peers OR-ed, a peer's podSelector and namespaceSelector AND-ed,
// ports by number or by the target container's port name). Enough to check the manifests'
// intent; enforcement itself belongs to the cluster's network plugin, which no test here runs.
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';

type LabelSelector = NonNullable<INetworkPolicy['spec']>['podSelector'];

export interface PolicyPod {
  labels: Record<string, string>;
  namespaceLabels: Record<string, string>;
  /** Whether the pod is in the policies' namespace. */
  sameNamespace: boolean;
  /** Named container ports, name → number. */
  ports?: Record<string, number>;
}

function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (selector?.matchExpressions?.length) throw new Error('matchExpressions are not evaluated here: use matchLabels');
  return Object.entries(selector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
}

/** Whether `policy` applies to ingress traffic to `pod`. */
export function isolates(policy: INetworkPolicy, pod: PolicyPod): boolean {
  return (policy.spec?.policyTypes ?? ['Ingress']).includes('Ingress') && selects(policy.spec?.podSelector, pod.labels);
}

/** Whether `source` may open a TCP connection to `target` on `port` (a number). */
export function admits(policies: INetworkPolicy[], source: PolicyPod, target: PolicyPod, port: number): boolean {
  const isolating = policies.filter((policy) => isolates(policy, target));
  if (isolating.length === 0) return true;
  return isolating.some((policy) =>
    (policy.spec?.ingress ?? []).some((rule) => {
      const fromOk =
        rule.from === undefined ||
        rule.from.some((peer) => {
          if (peer.ipBlock) throw new Error('ipBlock peers are not evaluated here');
          if (peer.namespaceSelector === undefined) return source.sameNamespace && selects(peer.podSelector, source.labels);
          return selects(peer.namespaceSelector, source.namespaceLabels) && (peer.podSelector === undefined || selects(peer.podSelector, source.labels));
        });
      const portOk =
        rule.ports === undefined ||
        rule.ports.some((allowed) => {
          if ((allowed.protocol ?? 'TCP') !== 'TCP') return false;
          if (allowed.port === undefined) return true;
          return (typeof allowed.port === 'number' ? allowed.port : target.ports?.[allowed.port]) === port;
        });
      return fromOk && portOk;
    }),
  );
}
