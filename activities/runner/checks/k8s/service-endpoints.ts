/** `k8s.service-endpoints`: services with a selector but no ready endpoint. */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ServiceEndpointsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, nsFlag, outcome, ref } from './common';

/** Adds the ready endpoints of `slices` to `ready`, by `namespace/service`. */
export function countReadyEndpoints(slices: V1EndpointSlice[], ready: Map<string, number>): void {
  for (const slice of slices) {
    const svc = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${slice.metadata?.namespace ?? ''}/${svc}`;
    const n = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
    ready.set(key, (ready.get(key) ?? 0) + n);
  }
}

/** Services with a selector and no ready endpoint in `ready` (from {@link countReadyEndpoints}). */
export function servicesWithoutEndpoints(services: V1Service[], ready: ReadonlyMap<string, number>): Issue[] {
  const issues: Issue[] = [];
  for (const svc of services) {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0 || svc.spec?.type === 'ExternalName') continue;
    if ((ready.get(`${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`) ?? 0) > 0) continue;
    const resource = ref('Service', svc);
    const labels = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    issues.push({
      severity: 2,
      title: 'Service has no ready endpoint',
      resource,
      expected: 'at least one ready endpoint',
      actual: `no ready pod matches selector ${labels}`,
      nextSteps: [
        `kubectl get pods${nsFlag(resource)} -l ${labels}`,
        `kubectl get endpointslices${nsFlag(resource)} -l kubernetes.io/service-name=${resource.name}`,
        'Check the selector matches the pod labels and the pods pass their readiness probes',
      ],
    });
  }
  return issues;
}

export function endpointIssues(services: V1Service[], slices: V1EndpointSlice[]): Issue[] {
  const ready = new Map<string, number>();
  countReadyEndpoints(slices, ready);
  return servicesWithoutEndpoints(services, ready);
}

export const serviceEndpoints: Check<ServiceEndpointsParams> = {
  type: 'k8s.service-endpoints',
  params: ServiceEndpointsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      // Slices first, folded into ready counts per service (one number per service, not the slices),
      // so that services can then be judged page by page.
      // Slices carry the service name as a label, not the service's labels: list them without the selector.
      const ready = new Map<string, number>();
      await foldScoped(
        run,
        'endpointslices',
        { ...params, labelSelector: undefined },
        (q) => run.kube.discovery.listEndpointSliceForAllNamespaces(q),
        (namespace, q) => run.kube.discovery.listNamespacedEndpointSlice({ namespace, ...q }),
        (slices) => countReadyEndpoints(slices, ready),
      );
      const issues: Issue[] = [];
      const services = await foldScoped(
        run,
        'services',
        params,
        (q) => run.kube.core.listServiceForAllNamespaces(q),
        (namespace, q) => run.kube.core.listNamespacedService({ namespace, ...q }),
        (page) => issues.push(...servicesWithoutEndpoints(page, ready)),
      );
      return outcome(
        issues,
        `${services} services, all with ready endpoints`,
        { 'services.checked': services },
        (n) => `${n} services without ready endpoints`,
      );
    }),
};
