import type { Issue, Severity } from './contracts';

/** How much one finding of each severity lowers a 0..1 health score. */
export const SEVERITY_WEIGHT: Readonly<Record<Severity, number>> = { 1: 0.4, 2: 0.2, 3: 0.05, 4: 0 };

/** 1 when nothing is wrong, falling with each finding by its severity, never below 0. */
export function scoreOf(issues: readonly Pick<Issue, 'severity'>[]): number {
  const penalty = issues.reduce((sum, i) => sum + SEVERITY_WEIGHT[i.severity], 0);
  return Math.max(0, Math.round((1 - Math.min(1, penalty)) * 1000) / 1000);
}
