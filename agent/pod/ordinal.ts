import { AgentError } from '../errors.ts';

export interface PodIdentity {
  /** Full pod name, e.g. mysql-ha-2. */
  name: string;
  /** StatefulSet name, e.g. mysql-ha. */
  statefulSet: string;
  ordinal: number;
}

const POD_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)-(0|[1-9][0-9]{0,5})$/;

/** Parses a StatefulSet pod name `<name>-<N>`; anything else is a configuration error. */
export function parsePodName(name: string): PodIdentity {
  const match = POD_NAME.exec(name);
  if (!match) {
    throw new AgentError('POD_NAME_INVALID', `POD_NAME "${name}" is not a StatefulSet pod name: it must look like <name>-<ordinal>, e.g. mysql-ha-0`);
  }
  return { name, statefulSet: match[1]!, ordinal: Number(match[3]) };
}

export function podName(statefulSet: string, ordinal: number): string {
  return `${statefulSet}-${ordinal}`;
}
