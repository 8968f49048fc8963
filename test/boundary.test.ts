import { ApplicationFailure } from '@temporalio/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { MAX_RESULT_BYTES, REDACTED, scrubError, toBoundaryResult } from '../activities/runner/boundary';
import { verifyAttestation } from '../common/attestation';
import { keyId, StaticKeyring } from '../common/keyring';
import type { CheckOutcome } from '../activities/runner/checks/check';

const request = { runId: randomUUID(), workspaceId: randomUUID(), taskId: randomUUID(), checkType: 'http.probe', params: {} };
const key = { id: keyId(request.workspaceId, 1), workspaceId: request.workspaceId, root: randomBytes(32) };
const times = {
  startedAt: new Date('2026-01-01T00:00:00.000Z'),
  finishedAt: new Date('2026-01-01T00:00:01.500Z'),
  policy: { rawLogs: 'deny' as const },
  key,
};

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
    expect(result).toMatchObject({
      runId: request.runId,
      workspaceId: request.workspaceId,
      checkType: 'http.probe',
      durationMs: 1500,
      exitCode: 0,
    });
  });

  it('lets nothing but the contract fields of an outcome cross', () => {
    const extra = { ...outcome('x'), rawLogs: 'password=hunter2' } as CheckOutcome;
    const result = toBoundaryResult({ request, outcome: extra, ...times, secretValues: [] });
    expect(Object.keys(result)).not.toContain('rawLogs');
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('refuses unknown fields inside issues non-retryably, naming the path but not the value', () => {
    const base = outcome('x');
    const bad = { ...base, issues: [{ ...base.issues[0], rawLogs: 'password=hunter2' }] } as unknown as CheckOutcome;
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
      issues: Array.from({ length: 200 }, (_, i) => ({
        severity: 4 as const,
        title: `t${i}`,
        resource: { kind: 'Pod', name: 'p'.repeat(512) },
        expected: 'e'.repeat(500),
        actual: 'a'.repeat(500),
        nextSteps: ['n'.repeat(500)],
        details: 'd'.repeat(2000),
      })),
    };
    expect(() => toBoundaryResult({ request, outcome: big, ...times, secretValues: [] })).toThrow(`exceeds ${MAX_RESULT_BYTES}`);
  });

  it.each([
    ['a PEM private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----'],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['a bearer token', 'Authorization: Bearer abcdef0123456789abcdef'],
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['an AWS secret key', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['a GitHub token', 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB'],
    ['a password in a connection string', 'postgres://app:Sup3rS3cret@db.internal:5432/app'],
    ['a password assignment', 'password=Sup3rS3cret'],
    ['a Lookout API token', `lk_${'a'.repeat(43)}`],
  ])('redacts %s found in check output', (_label, leak) => {
    const result = toBoundaryResult({ request, outcome: outcome(`seen: ${leak}`), ...times, secretValues: [] });
    const secretPart = leak.includes('Sup3rS3cret')
      ? 'Sup3rS3cret'
      : (leak.replace(/^(Authorization: Bearer |aws_secret_access_key = )/, '').split('\n')[1] ??
        leak.replace(/^(Authorization: Bearer |aws_secret_access_key = )/, ''));
    expect(JSON.stringify(result)).not.toContain(secretPart);
    expect(result.summary).toContain(REDACTED);
  });

  it('keeps raw excerpts on the Runner unless its own policy allows them', () => {
    const withDetails: CheckOutcome = { ...outcome('x'), issues: [{ ...outcome('x').issues[0]!, details: 'log line 42: disk full' }] };
    const denied = toBoundaryResult({ request, outcome: withDetails, ...times, secretValues: [] });
    expect(denied.issues[0]).not.toHaveProperty('details');
    const allowed = toBoundaryResult({ request, outcome: withDetails, ...times, policy: { rawLogs: 'allow' }, secretValues: [] });
    expect(allowed.issues[0]?.details).toBe('log line 42: disk full');
  });

  it('attests the result under the workspace key so that the Platform can verify it, and only for that run', async () => {
    const result = toBoundaryResult({ request, outcome: outcome('fine'), ...times, secretValues: [] });
    const keyring = new StaticKeyring({
      workspaceId: request.workspaceId,
      activeKeyId: key.id,
      keys: [{ id: key.id, key: key.root.toString('base64') }],
    });
    const { attestation, ...body } = result;
    expect(await verifyAttestation(keyring, attestation, request.workspaceId, request.runId, body)).toBeUndefined();
    expect(await verifyAttestation(keyring, attestation, request.workspaceId, randomUUID(), body)).toBe('attestation does not verify');
    expect(await verifyAttestation(keyring, attestation, request.workspaceId, request.runId, { ...body, summary: 'changed' })).toBe(
      'attestation does not verify',
    );
    expect(await verifyAttestation(keyring, attestation, randomUUID(), request.runId, body)).toBe(
      'attestation was made with a key of another workspace',
    );
  });

  it('scrubs secrets from errors thrown by checks and drops their cause and stack', () => {
    const thrown = new TypeError(`Headers.append: "Bearer ${secret}" is an invalid header value.`, { cause: new Error(secret) });
    const failure = scrubError(thrown, [secret]);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('CheckError');
    expect(failure.nonRetryable).toBe(false);
    // A library's own text never leaves: only its class, in Lookout's words.
    expect(failure.message).toBe('the check failed unexpectedly (TypeError)');
    expect(failure.cause).toBeUndefined();
    expect(failure.stack ?? '').not.toContain(secret);
  });
});
