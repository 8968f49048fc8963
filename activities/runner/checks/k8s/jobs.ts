/** `k8s.jobs`: failed jobs, and cronjobs that are suspended or have not succeeded for too long. */
import type { V1CronJob, V1Job } from '@kubernetes/client-node';
import { JobsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, minutesSince, nsFlag, outcome, ref, rawMessage, reasonOf } from './common';

export function jobIssues(jobs: V1Job[], cronJobs: V1CronJob[], staleHours: number, now = Date.now()): Issue[] {
  const issues: Issue[] = [];
  for (const job of jobs) {
    const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    if (!failed) continue;
    const resource = ref('Job', job);
    issues.push({
      severity: 2,
      title: 'Job failed',
      resource,
      expected: 'the job completes',
      actual: `${reasonOf(failed.reason, 'Failed')}; ${job.status?.failed ?? 0} failed pods`,
      ...rawMessage(failed.message),
      nextSteps: [`kubectl describe job ${resource.name}${nsFlag(resource)}`, `kubectl logs job/${resource.name}${nsFlag(resource)}`],
    });
  }
  for (const cj of cronJobs) {
    const resource = ref('CronJob', cj);
    if (cj.spec?.suspend) {
      issues.push({
        severity: 4,
        title: 'CronJob is suspended',
        resource,
        expected: 'scheduled runs',
        actual: 'spec.suspend=true',
        nextSteps: [`kubectl patch cronjob ${resource.name}${nsFlag(resource)} -p '{"spec":{"suspend":false}}' if it should run again`],
      });
      continue;
    }
    const lastSuccess = cj.status?.lastSuccessfulTime ?? undefined;
    const since = lastSuccess ? minutesSince(lastSuccess, now) : minutesSince(cj.metadata?.creationTimestamp, now);
    if (since < staleHours * 60) continue;
    issues.push({
      severity: 3,
      title: 'CronJob has not succeeded recently',
      resource,
      expected: `a successful run within ${staleHours} hours (schedule ${cj.spec?.schedule ?? '?'})`,
      actual: lastSuccess
        ? `last success ${Math.round(since / 60)} hours ago`
        : `no success since it was created ${Math.round(since / 60)} hours ago`,
      nextSteps: [
        `kubectl get jobs${nsFlag(resource)} --sort-by=.metadata.creationTimestamp`,
        `kubectl describe cronjob ${resource.name}${nsFlag(resource)}`,
      ],
    });
  }
  return issues;
}

export const jobsCheck: Check<JobsParams> = {
  type: 'k8s.jobs',
  params: JobsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const batch = run.kube.batch;
      const jobIssuesFound: Issue[] = [];
      const cronJobIssues: Issue[] = [];
      const now = Date.now();
      const jobs = await foldScoped(
        run,
        'jobs',
        params,
        (q) => batch.listJobForAllNamespaces(q),
        (namespace, q) => batch.listNamespacedJob({ namespace, ...q }),
        (page) => jobIssuesFound.push(...jobIssues(page, [], params.cronjobStaleHours, now)),
      );
      const cronJobs = await foldScoped(
        run,
        'cronjobs',
        params,
        (q) => batch.listCronJobForAllNamespaces(q),
        (namespace, q) => batch.listNamespacedCronJob({ namespace, ...q }),
        (page) => cronJobIssues.push(...jobIssues([], page, params.cronjobStaleHours, now)),
      );
      return outcome(
        [...jobIssuesFound, ...cronJobIssues],
        `${jobs} jobs and ${cronJobs} cronjobs healthy`,
        { 'jobs.checked': jobs, 'cronjobs.checked': cronJobs },
        (n) => `${n} job problems`,
      );
    }),
};
