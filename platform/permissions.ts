/**
 * Roles and permissions (DESIGN.md §5). Every route declares one permission from this list; a role is
 * the set of permissions it grants, each role including the one below it.
 */
export const ROLES = ['viewer', 'operator', 'owner'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'workspace.read',
  'tasks.read',
  'runs.read',
  'results.read',
  'schedules.read',
  'runners.read',
  'issues.read',
  'hooks.read',
  'sinks.read',
  'runs.create',
  'runs.cancel',
  'runs.retry',
  'schedules.trigger',
  'issues.manage',
  'notifications.retry',
  'tasks.manage',
  'schedules.manage',
  'members.manage',
  'tokens.manage',
  'runners.manage',
  'secrets.manage',
  'hooks.manage',
  'sinks.manage',
  'audit.read',
  'workspace.export',
  'workspace.delete',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const VIEWER: readonly Permission[] = [
  'workspace.read',
  'tasks.read',
  'runs.read',
  'results.read',
  'schedules.read',
  'runners.read',
  'issues.read',
  'hooks.read',
  'sinks.read',
];
const OPERATOR: readonly Permission[] = [
  ...VIEWER,
  'runs.create',
  'runs.cancel',
  'runs.retry',
  'schedules.trigger',
  'issues.manage',
  'notifications.retry',
];
const OWNER: readonly Permission[] = PERMISSIONS;

export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  viewer: new Set(VIEWER),
  operator: new Set(OPERATOR),
  owner: new Set(OWNER),
};

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

/** True when `a` grants no more than `b` (an API token may not outrank its creator). */
export function roleAtMost(a: Role, b: Role): boolean {
  return ROLES.indexOf(a) <= ROLES.indexOf(b);
}

/** The lower of two roles. */
export function minRole(a: Role, b: Role): Role {
  return roleAtMost(a, b) ? a : b;
}
