// Validates objects against the Kubernetes OpenAPI schemas, through kubernetes-models.
// One model class per apiVersion and kind the manifests use: an object of any other kind
// fails, so a new kind gets added here (and validated) on purpose.
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

type ModelClass = { apiVersion: string; kind: string; new (data: never): { validate(): void } };

const modelClasses: ModelClass[] = [
  Deployment,
  StatefulSet,
  Lease,
  NetworkPolicy,
  PodDisruptionBudget,
  Role,
  RoleBinding,
  ConfigMap,
  Secret,
  Service,
  ServiceAccount,
];

/** Throws with the schema's complaints when `object` is invalid, or when its kind is not known here. */
export function validateAgainstSchema(object: { apiVersion: string; kind: string; metadata?: { name?: string } }): void {
  const model = modelClasses.find((candidate) => candidate.apiVersion === object.apiVersion && candidate.kind === object.kind);
  if (!model) {
    throw new Error(
      `${object.apiVersion} ${object.kind} "${object.metadata?.name}" has no schema in test/support/kubernetes-schemas.ts: ` +
        'add its kubernetes-models class there',
    );
  }
  new model(object as never).validate();
}
