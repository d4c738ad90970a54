import type { PodRolePublisher } from './pod-role-publisher.ts';

/** For the local sandbox and other runs outside Kubernetes: nothing to label. */
export const noopPodRolePublisher: PodRolePublisher = {
  publishRole: async () => {},
  recordEvent: async () => {},
};
