/**
 * Hashed names (`discovery.names: hashed`), property-tested on the Runner's rewriting: whatever the
 * names and wherever a check writes them (resource, title, expected, actual, next steps, details,
 * summary, inventory), no namespace or resource name survives; the same name always hashes alike;
 * hashed namespace parameters map back to the cluster's names.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { clearNamesIn, HASHED_NAME, KUBERNETES_NAMESPACES } from '../common/discovery';
import { RunnerNames } from '../activities/runner/names';
import type { CheckOutcome } from '../activities/runner/checks/check';
import type { NextCheck } from '../common/contracts';

const nextChecksOf = (ns: string, node: string): NextCheck[] => [
  { type: 'k8s.warning-events', params: { namespaces: [ns], sinceMinutes: 60 } },
  { type: 'k8s.node-conditions', params: { nodes: [node] } },
];

const label = fc.stringMatching(/^[a-z][a-z0-9-]{2,20}[a-z0-9]$/);

describe('hashed names', () => {
  it('leave no clear name anywhere in an outcome', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(label, { minLength: 3, maxLength: 8 }), async (names) => {
        const [ns, other, ...resources] = names as [string, string, ...string[]];
        const hasher = new RunnerNames('hashed', randomBytes(32), async () => [ns, other, 'default']);
        const outcome: CheckOutcome = {
          status: 'issues',
          summary: `${ns}: ${resources.length} pods crash-looping (${resources.join(', ')})`,
          score: 0.5,
          metrics: { 'issues.total': resources.length },
          issues: resources.map((name) => ({
            severity: 2,
            title: `Pod ${name} is crash-looping`,
            resource: { kind: 'Pod', namespace: ns, name },
            expected: `pod ${name} running in ${ns}`,
            actual: `restarted 9 times; see ${other}/${name}`,
            nextSteps: [`kubectl logs ${name} -n ${ns} --previous`, `kubectl describe pod/${name} -n ${ns}.`],
            details: `back-off restarting failed container in pod ${ns}/${name}`,
            nextChecks: nextChecksOf(ns, other),
          })),
        };
        const out = await hasher.hashOutcome(outcome);
        const text = JSON.stringify(out);
        for (const name of names) expect(text).not.toMatch(new RegExp(`(?<![a-z0-9-])${name}(?![a-z0-9-])`));
        for (const i of out.issues) {
          expect(i.resource.name).toMatch(HASHED_NAME);
          // Next checks keep what the Runner can map back (the namespace, by hash) and drop other names.
          expect(i.nextChecks).toEqual([
            { type: 'k8s.warning-events', params: { namespaces: [hasher.hash(ns)], sinceMinutes: 60 } },
            { type: 'k8s.node-conditions', params: {} },
          ]);
          expect(i.resource.namespace).toBe(hasher.hash(ns));
        }
        // Stable: the same name, the same hash, so issues and sweeps follow a resource across runs.
        expect((await hasher.hashOutcome(outcome)).issues).toEqual(out.issues);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps endpoints (the task named them) and maps hashed namespace parameters back', async () => {
    const hasher = new RunnerNames('hashed', randomBytes(32), async () => ['payments', 'web']);
    const out = await hasher.hashOutcome({
      status: 'issues',
      summary: 'https://api.example.test/health answered 503',
      metrics: {},
      issues: [
        {
          severity: 1,
          title: 'Endpoint is unavailable',
          resource: { kind: 'Endpoint', name: 'https://api.example.test/health' },
          expected: '2xx',
          actual: '503',
          nextSteps: [],
        },
      ],
    });
    expect(out.issues[0]!.resource.name).toBe('https://api.example.test/health');
    expect(
      await hasher.resolveParams({ namespace: hasher.hash('payments'), namespaces: [hasher.hash('web'), 'h-00000000000000000000'] }),
    ).toEqual({ namespace: 'payments', namespaces: ['web', 'h-00000000000000000000'] });
    expect(await hasher.hashMessage('cannot list pods in namespace payments: forbidden (403)')).toBe(
      `cannot list pods in namespace ${hasher.hash('payments')}: forbidden (403)`,
    );
  });

  it('find every name a task gives in clear, but hashes and the namespaces every cluster has', () => {
    const name = fc
      .stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/)
      .filter((n) => !(KUBERNETES_NAMESPACES as readonly string[]).includes(n));
    const hashed = fc.stringMatching(/^h-[0-9a-f]{20}$/);
    fc.assert(
      fc.property(
        fc.array(name, { maxLength: 4 }),
        fc.array(hashed, { maxLength: 4 }),
        fc.array(name, { maxLength: 3 }),
        (clear, hashes, nodes) => {
          const params = {
            namespaces: [...clear, ...hashes, 'kube-system'],
            excludeNamespaces: ['kube-public', ...hashes],
            nodes,
            restartThreshold: 3,
          };
          expect(clearNamesIn(params).sort()).toEqual([...clear, ...nodes].sort());
        },
      ),
    );
    // A node is never a Kubernetes namespace: `default` names a node in clear.
    expect(clearNamesIn({ nodes: ['default'], namespace: 'default' })).toEqual(['default']);
  });

  it('refuse to start without a key of at least 32 bytes, and do nothing in clear mode', async () => {
    expect(() => new RunnerNames('hashed', undefined)).toThrow(/LOOKOUT_RUNNER_NAMES_KEY_FILE/);
    expect(() => new RunnerNames('hashed', randomBytes(16))).toThrow(/32 bytes/);
    const clear = new RunnerNames('clear', undefined);
    expect(clear.hash('payments')).toBe('payments');
    expect(await clear.resolveParams({ namespace: 'h-00000000000000000000' })).toEqual({ namespace: 'h-00000000000000000000' });
  });
});
