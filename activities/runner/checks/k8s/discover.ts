/**
 * `k8s.discover`: what the cluster holds, as counts per namespace and kind, plus its nodes, storage
 * classes and the systems its API groups reveal (cert-manager, Argo CD, Flux, …). No object's
 * content is read into the result: only names (as the policy lets them leave) and numbers. The
 * Platform turns the inventory into tasks with its generation rules.
 */
import { DiscoverParams } from '../../../../common/checks';
import {
  CAPABILITY_GROUPS,
  emptyCounts,
  MAX_INVENTORY_NAMESPACES,
  type Capability,
  type Inventory,
  type KindCounts,
} from '../../../../common/discovery';
import { eachPage, KubeError, type Page } from '../../kube-api';
import type { Check } from '../check';
import { guarded, kubeRun, type KubeRun } from './common';

interface Meta {
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
}

/** One page of a list the typed clients do not cover, read with the Runner's identity; a missing API is an empty list. */
async function rawPage(run: KubeRun, what: string, path: string, cont: string | undefined, signal: AbortSignal): Promise<Page<Meta>> {
  const query = `?limit=${run.kube.pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
  const res = await run.kube.get(`${path}${query}`, { signal });
  if (res.status === 404) return { items: [] };
  if (res.status !== 200) throw new KubeError(res.status, what);
  const body = JSON.parse(res.body.toString('utf8')) as { items?: Meta[]; metadata?: { continue?: string } };
  return { items: body.items ?? [], metadata: { _continue: body.metadata?.continue } };
}

export const discover: Check<DiscoverParams> = {
  type: 'k8s.discover',
  params: DiscoverParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const { core, apps, batch } = run.kube;
      const q = (cont: string | undefined) => ({ limit: run.kube.pageSize, ...(cont ? { _continue: cont } : {}) });
      const excluded = new Set(params.excludeNamespaces);

      const perNamespace = new Map<string, KindCounts>();
      await eachPage(
        'list namespaces',
        (cont) => core.listNamespace(q(cont)),
        run.call,
        (items) => {
          for (const ns of items) {
            const name = ns.metadata?.name;
            // A namespace being deleted gets no checks: its tasks go with the next rediscovery.
            if (name && !excluded.has(name) && ns.status?.phase !== 'Terminating') perNamespace.set(name, emptyCounts());
          }
        },
      );
      const totals = emptyCounts();
      const count = async (kind: keyof KindCounts, what: string, list: (cont: string | undefined) => Promise<Page<Meta>>) => {
        await eachPage(what, list, run.call, (items) => {
          for (const item of items) {
            const counts = perNamespace.get(item.metadata?.namespace ?? '');
            if (!counts) continue; // excluded, or created after the namespaces were listed
            counts[kind] += 1;
            totals[kind] += 1;
          }
        });
      };
      await count('pods', 'list pods', (c) => core.listPodForAllNamespaces(q(c)));
      await count('deployments', 'list deployments', (c) => apps.listDeploymentForAllNamespaces(q(c)));
      await count('statefulsets', 'list statefulsets', (c) => apps.listStatefulSetForAllNamespaces(q(c)));
      await count('daemonsets', 'list daemonsets', (c) => apps.listDaemonSetForAllNamespaces(q(c)));
      await count('cronjobs', 'list cronjobs', (c) => batch.listCronJobForAllNamespaces(q(c)));
      await count('jobs', 'list jobs', (c) => batch.listJobForAllNamespaces(q(c)));
      await count('services', 'list services', (c) => core.listServiceForAllNamespaces(q(c)));
      await count('pvcs', 'list persistentvolumeclaims', (c) => core.listPersistentVolumeClaimForAllNamespaces(q(c)));
      await count('ingresses', 'list ingresses', (c) =>
        rawPage(run, 'list ingresses', '/apis/networking.k8s.io/v1/ingresses', c, ctx.signal),
      );

      const nodes = await eachPage(
        'list nodes',
        (c) => core.listNode(q(c)),
        run.call,
        () => undefined,
      );
      const storageClasses = await eachPage(
        'list storageclasses',
        (c) => rawPage(run, 'list storageclasses', '/apis/storage.k8s.io/v1/storageclasses', c, ctx.signal),
        run.call,
        () => undefined,
      );
      // API discovery (readable by every authenticated identity): which groups, hence which systems, the cluster serves.
      const apis = await run.kube.get('/apis', { signal: ctx.signal, maxBytes: 4 * 1024 * 1024 });
      if (apis.status !== 200) throw new KubeError(apis.status, 'read the API groups');
      const groups = new Set(
        ((JSON.parse(apis.body.toString('utf8')) as { groups?: { name?: string }[] }).groups ?? []).map((g) => g.name),
      );
      const capabilities = (Object.entries(CAPABILITY_GROUPS) as [Capability, string][])
        .filter(([, group]) => groups.has(group))
        .map(([c]) => c);

      const names = [...perNamespace.keys()].sort();
      const listed = ctx.names === 'counts' ? [] : names.slice(0, MAX_INVENTORY_NAMESPACES);
      const inventory: Inventory = {
        v: 1,
        names: ctx.names ?? 'clear',
        cluster: { nodes, storageClasses, namespaces: names.length, capabilities },
        totals,
        namespaces: listed.map((name) => ({ name, ...(perNamespace.get(name) as KindCounts) })),
        truncated: ctx.names !== 'counts' && names.length > listed.length,
      };
      const workloads = totals.deployments + totals.statefulsets + totals.daemonsets + totals.cronjobs;
      return {
        status: 'ok',
        summary: `${names.length} namespaces, ${workloads} workloads, ${totals.pods} pods, ${nodes} nodes${capabilities.length ? `; ${capabilities.join(', ')}` : ''}`,
        issues: [],
        metrics: {
          'namespaces.total': names.length,
          'nodes.total': nodes,
          'pods.total': totals.pods,
          'workloads.total': workloads,
          'services.total': totals.services,
        },
        inventory,
      };
    }),
};
