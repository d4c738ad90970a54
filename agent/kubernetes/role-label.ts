/**
 * The one label the agent keeps on its own pod. The mysql-ha-primary Service selects
 * `mysql-ha.io/role: primary`, so it always points at the current primary.
 */
export const roleLabelKey = 'mysql-ha.io/role';

export type PodRole = 'primary' | 'replica';

export const roleChangedReason = 'RoleChanged';
