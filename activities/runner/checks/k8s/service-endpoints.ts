/** `k8s.service-endpoints`: services with a selector but no ready endpoint. */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { ServiceEndpointsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, listScoped, nsFlag, outcome, ref } from './common';

export function endpointIssues(services: V1Service[], slices: V1EndpointSlice[]): Issue[] {
  const ready = new Map<string, number>();
  for (const slice of slices) {
    const svc = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${slice.metadata?.namespace ?? ''}/${svc}`;
    const n = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
    ready.set(key, (ready.get(key) ?? 0) + n);
  }
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

export const serviceEndpoints: Check<ServiceEndpointsParams> = {
  type: 'k8s.service-endpoints',
  params: ServiceEndpointsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const services = await listScoped(
        run,
        'services',
        params,
        (q) => run.kube.core.listServiceForAllNamespaces(q),
        (namespace, q) => run.kube.core.listNamespacedService({ namespace, ...q }),
      );
      // Slices carry the service name as a label, not the service's labels: list them without the selector.
      const sliceScope = { ...params, labelSelector: undefined };
      const slices = await listScoped(
        run,
        'endpointslices',
        sliceScope,
        (q) => run.kube.discovery.listEndpointSliceForAllNamespaces(q),
        (namespace, q) => run.kube.discovery.listNamespacedEndpointSlice({ namespace, ...q }),
      );
      return outcome(
        endpointIssues(services, slices),
        `${services.length} services, all with ready endpoints`,
        { 'services.checked': services.length },
        (n) => `${n} services without ready endpoints`,
      );
    }),
};
