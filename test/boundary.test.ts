import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { MAX_RESULT_BYTES, REDACTED, toBoundaryResult } from '../activities/runner/boundary';
import type { CheckOutcome } from '../activities/runner/checks/check';

const request = { runId: randomUUID(), workspaceId: randomUUID(), taskId: randomUUID(), checkType: 'http.probe', params: {} };
const times = { startedAt: new Date('2026-01-01T00:00:00.000Z'), finishedAt: new Date('2026-01-01T00:00:01.500Z') };

function outcome(text: string): CheckOutcome {
  return {
    status: 'issues',
    summary: text,
    issues: [{ severity: 2, title: 'x', resource: { kind: 'Endpoint', name: text }, expected: 'a', actual: text, nextSteps: [text] }],
    metrics: { 'http.up': 0 },
  };
}

describe('boundary', () => {
  const secret = 's3cr3t/value+with=chars';

  it.each([
    ['plain', secret],
    ['base64', Buffer.from(secret).toString('base64')],
    ['base64 without padding', Buffer.from(secret).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(secret).toString('base64url')],
    ['URL-encoded', encodeURIComponent(secret)],
  ])('redacts a resolved secret value in its %s form everywhere in the result', (_form, shown) => {
    const result = toBoundaryResult({ request, outcome: outcome(`token=${shown};`), ...times, secretValues: [secret] });
    const text = JSON.stringify(result);
    expect(text).not.toContain(shown);
    expect(result.summary).toBe(`token=${REDACTED};`);
    expect(result.issues[0]?.nextSteps).toEqual([`token=${REDACTED};`]);
  });

  it('adds run metadata and the duration', () => {
    const result = toBoundaryResult({ request, outcome: outcome('fine'), ...times, secretValues: [] });
    expect(result).toMatchObject({ runId: request.runId, workspaceId: request.workspaceId, checkType: 'http.probe', durationMs: 1500, exitCode: 0 });
  });

  it('lets nothing but the contract fields of an outcome cross', () => {
    const extra = { ...outcome('x'), rawLogs: 'password=hunter2' } as CheckOutcome;
    const result = toBoundaryResult({ request, outcome: extra, ...times, secretValues: [] });
    expect(Object.keys(result)).not.toContain('rawLogs');
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('refuses unknown fields inside issues non-retryably, naming the path but not the value', () => {
    const base = outcome('x');
    const bad = { ...base, issues: [{ ...base.issues[0], rawLogs: "password=hunter2" }] } as unknown as CheckOutcome;
    let thrown: unknown;
    try {
      toBoundaryResult({ request, outcome: bad, ...times, secretValues: [] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect((thrown as ApplicationFailure).type).toBe('ResultRejected');
    expect((thrown as ApplicationFailure).nonRetryable).toBe(true);
    expect((thrown as Error).message).toContain('rawLogs');
    expect((thrown as Error).message).not.toContain('hunter2');
  });

  it('refuses a result larger than the cap', () => {
    const big: CheckOutcome = {
      ...outcome('x'),
      issues: Array.from({ length: 200 }, (_, i) => ({ severity: 4 as const, title: `t${i}`, resource: { kind: 'Pod', name: 'p'.repeat(512) }, expected: 'e'.repeat(500), actual: 'a'.repeat(500), nextSteps: ['n'.repeat(500)], details: 'd'.repeat(2000) })),
    };
    expect(() => toBoundaryResult({ request, outcome: big, ...times, secretValues: [] })).toThrow(`exceeds ${MAX_RESULT_BYTES}`);
  });
});
