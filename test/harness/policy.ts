/**
 * Runner policies for tests. Test targets listen on loopback at random ports, which a Runner policy
 * refuses unless a destination names them: `loopbackPolicy` allows exactly that and nothing else.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { RunnerPolicy } from '../../common/runner-policy';
import { RunnerPolicyEnforcer } from '../../activities/runner/policy';
import { MasterKey } from '../../platform/crypto/master-key';
import { platformSigningKey } from '../../platform/crypto/signing-key';

/** Destinations for a test target on 127.0.0.1 (any port, http and https). */
export const LOOPBACK_DESTINATIONS = [
  { name: 'loopback-http', scheme: 'http', host: '127.0.0.1', port: '*', allowAddresses: ['127.0.0.0/8'] },
  { name: 'loopback-https', scheme: 'https', host: '127.0.0.1', port: '*', allowAddresses: ['127.0.0.0/8'] },
] as const;

/** The public task-signing key of the test Platform (derived from the test master key, as by default). */
export function testPlatformPublicKey(): string {
  const master = process.env['LOOKOUT_TEST_MASTER_KEY'];
  if (!master) throw new Error('LOOKOUT_TEST_MASTER_KEY is not set');
  return platformSigningKey(MasterKey.fromBase64(master)).publicKey;
}

/** A policy input: the test Platform's key pinned, the loopback destinations, and whatever `extra` adds or overrides. */
export function loopbackPolicyInput(checks: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { checks, destinations: [...LOOPBACK_DESTINATIONS], platformKeys: [testPlatformPublicKey()], ...extra };
}

export function loopbackPolicy(checks: readonly string[], extra: Record<string, unknown> = {}): RunnerPolicyEnforcer {
  return new RunnerPolicyEnforcer(RunnerPolicy.parse(loopbackPolicyInput(checks, extra)));
}

/** Writes a policy file (YAML) for a Runner process; answers its path. */
export function writePolicyFile(input: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-policy-'));
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, stringify(input));
  return file;
}

/** A secret binding of `ref` to the loopback destinations (the tests' targets). */
export function loopbackBinding(name: string, ref: string, header = 'Authorization', scheme = 'Bearer '): Record<string, unknown> {
  return { name, ref, destinations: ['loopback-http', 'loopback-https'], header, scheme };
}
