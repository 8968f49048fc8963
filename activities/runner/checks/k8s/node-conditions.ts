/** `k8s.node-conditions`: nodes not ready or under memory, disk or PID pressure. */
import type { V1Node } from '@kubernetes/client-node';
import { NodeConditionsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import { eachPage } from '../../kube-api';
import type { Check } from '../check';
import { guarded, kubeRun, outcome, ref, rawMessage, reasonOf } from './common';

const PRESSURE: Record<string, string> = { MemoryPressure: 'memory', DiskPressure: 'disk', PIDPressure: 'process id' };

export function nodeIssues(nodes: V1Node[]): Issue[] {
  const issues: Issue[] = [];
  for (const node of nodes) {
    const resource = ref('Node', node);
    for (const c of node.status?.conditions ?? []) {
      if (c.type === 'Ready' && c.status !== 'True') {
        issues.push({
          severity: 1,
          title: 'Node is not ready',
          resource,
          expected: 'Ready=True',
          actual: `Ready=${c.status}${c.reason ? ` (${reasonOf(c.reason, 'Other')})` : ''}`,
          ...rawMessage(c.message),
          nextSteps: [
            `kubectl describe node ${resource.name}`,
            'Check the kubelet and container runtime on the node (journalctl -u kubelet)',
            `kubectl get pods -A --field-selector spec.nodeName=${resource.name}`,
          ],
        });
      } else if (PRESSURE[c.type] && c.status === 'True') {
        issues.push({
          severity: 2,
          title: `Node is under ${PRESSURE[c.type]} pressure`,
          resource,
          expected: `${c.type}=False`,
          actual: `${c.type}=True`,
          ...rawMessage(c.message),
          nextSteps: [
            `kubectl describe node ${resource.name}`,
            `kubectl top pods -A --sort-by=${c.type === 'MemoryPressure' ? 'memory' : 'cpu'}`,
            'Evictions may follow: move or shrink the heaviest workloads',
          ],
        });
      }
    }
    if (node.spec?.unschedulable) {
      issues.push({
        severity: 4,
        title: 'Node is cordoned',
        resource,
        expected: 'schedulable',
        actual: 'spec.unschedulable=true',
        nextSteps: [`kubectl uncordon ${resource.name} when its maintenance is over`],
      });
    }
  }
  return issues;
}

export const nodeConditions: Check<NodeConditionsParams> = {
  type: 'k8s.node-conditions',
  params: NodeConditionsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const issues: Issue[] = [];
      const nodes = await eachPage(
        'list nodes',
        (cont) =>
          run.kube.core.listNode({
            limit: run.kube.pageSize,
            ...(cont ? { _continue: cont } : {}),
            ...(params.labelSelector ? { labelSelector: params.labelSelector } : {}),
          }),
        run.call,
        (page) => issues.push(...nodeIssues(params.nodes ? page.filter((n) => params.nodes!.includes(n.metadata?.name ?? '')) : page)),
      );
      return outcome(issues, `${nodes} nodes, all ready without pressure`, { 'nodes.checked': nodes }, (n) => `${n} node problems`);
    }),
};
