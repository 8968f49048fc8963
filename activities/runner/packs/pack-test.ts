/**
 * `lookout pack test <dir>`: runs a pack's checks on the author's machine against a kubeconfig, the
 * way a Runner would (the same loader, executors and sandbox), and prints each result exactly as it
 * would leave the Runner: through the same boundary (redaction of secret values, raw excerpts
 * withheld unless allowed, the result contract and size cap). A preview of what leaves the cluster.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { signingKeyFromSeed } from '../../../common/ed25519';
import { packCheckType, type PackManifest } from '../../../common/packs';
import { RunnerPolicy, type Destination } from '../../../common/runner-policy';
import { toBoundaryResult } from '../boundary';
import type { KubeClients } from '../kube';
import { loadPolicyFile } from '../policy';
import { RunSecrets } from '../secrets';
import { createEnvProvider } from '../secrets/env.provider';
import { loadPack, PackError, readManifest } from './loader';
import { runPackCheck } from './run';

export interface PackTestOptions {
  dir: string;
  /** Only this check (`<pack>/<check>` or `<check>`). */
  check?: string | undefined;
  /** Parameters for every check run (JSON object). */
  params?: Record<string, unknown> | undefined;
  kube?: KubeClients | undefined;
  /** The Runner owner's policy file: test against its grants for this pack instead of granting what the pack declares. */
  policyFile?: string | undefined;
  /** Secret bindings for script checks: binding name → environment variable holding the value. */
  secrets?: Record<string, string> | undefined;
  /** Private ranges the declared destinations may resolve to (local testing). */
  allowAddresses?: string[] | undefined;
  /** Raw excerpts (issue details) as a Runner allowing them would send; default withheld. */
  rawData?: boolean | undefined;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** A policy that grants the pack exactly what its checks declare: what the owner's policy would need to say. */
export function grantingPolicy(
  manifest: PackManifest,
  dir: string,
  options: Pick<PackTestOptions, 'secrets' | 'allowAddresses' | 'rawData'>,
): RunnerPolicy {
  const destinations: Destination[] = [];
  for (const d of manifest.checks.flatMap((c) => c.needs.destinations)) {
    if (destinations.some((x) => x.host === d.host && x.port === d.port && x.scheme === d.scheme)) continue;
    destinations.push({
      name: `declared-${destinations.length + 1}`,
      scheme: d.scheme,
      host: d.host,
      ...(d.port ? { port: d.port } : {}),
      pathPrefix: '/',
      allowAddresses: options.allowAddresses ?? [],
    });
  }
  const secretNames = [...new Set(manifest.checks.flatMap((c) => c.needs.secrets))];
  if (secretNames.length && !destinations.length)
    destinations.push({ name: 'nowhere', scheme: 'https', host: 'nowhere.invalid', pathPrefix: '/', allowAddresses: [] });
  const types = manifest.checks.map((c) => packCheckType(manifest.name, c.name));
  return RunnerPolicy.parse({
    checks: types,
    rawData: { allow: options.rawData ? types : [] },
    destinations,
    secretBindings: secretNames.map((name) => ({
      name,
      ref: `env:${options.secrets?.[name] ?? `PACK_SECRET_${name.toUpperCase().replaceAll('-', '_')}`}`,
      destinations: destinations.map((d) => d.name),
    })),
    packs: [
      {
        name: manifest.name,
        source: { dir },
        destinations: destinations.map((d) => d.name),
        secretBindings: secretNames,
        kubernetes: manifest.checks.flatMap((c) => c.needs.kubernetes),
      },
    ],
  });
}

/** Runs the pack's checks; answers the exit status: 0 every check ran, 1 a check failed, 2 the pack is invalid or refused. */
export async function testPack(options: PackTestOptions): Promise<number> {
  const dir = path.resolve(options.dir);
  let manifest: PackManifest;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    options.err(err instanceof Error ? err.message : String(err));
    return 2;
  }
  let policy: RunnerPolicy;
  if (options.policyFile) {
    const owner = loadPolicyFile(options.policyFile);
    const entry = owner.packs.find((p) => p.name === manifest.name);
    if (!entry) {
      options.err(`the policy ${options.policyFile} lists no pack ${manifest.name}`);
      return 2;
    }
    // The owner's grants, this folder's files.
    policy = { ...owner, packs: [{ ...entry, source: { dir }, signers: [] }] };
  } else policy = grantingPolicy(manifest, dir, options);
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'lookout-pack-test-'));
  try {
    return await testLoaded(options, manifest, policy, cacheDir);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function testLoaded(options: PackTestOptions, manifest: PackManifest, policy: RunnerPolicy, cacheDir: string): Promise<number> {
  let pack;
  try {
    pack = await loadPack(policy.packs[0]!, policy, { cacheDir });
  } catch (err) {
    options.err(err instanceof PackError ? err.message : `pack ${manifest.name}: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  options.out(`pack ${manifest.name} ${manifest.version} ${pack.digest}`);
  const wanted = options.check && !options.check.includes('/') ? packCheckType(manifest.name, options.check) : options.check;
  if (wanted && !pack.checks.has(wanted)) {
    options.err(`pack ${manifest.name} has no check ${wanted}`);
    return 2;
  }
  const providers = new Map([['env', createEnvProvider(process.env)]]);
  const signer = { runnerId: randomUUID(), key: signingKeyFromSeed(randomBytes(32)) };
  let status = 0;
  for (const [type, check] of pack.checks) {
    if (wanted && type !== wanted) continue;
    if (!policy.checks.includes(type)) {
      options.out(`\n── ${type}: not allowed by the policy's checks (a Runner refuses it)`);
      continue;
    }
    options.out(`\n── ${type} (${check.check.declarative ? 'declarative' : 'script'})`);
    const secrets = new RunSecrets(providers);
    const controller = new AbortController();
    const startedAt = new Date();
    const request = { runId: randomUUID(), workspaceId: randomUUID(), taskId: randomUUID(), checkType: type, params: options.params ?? {} };
    try {
      const outcome = await runPackCheck({ pack, check }, request.params, {
        signal: controller.signal,
        heartbeat: () => undefined,
        kube: options.kube,
        policy,
        secrets,
        onStderr: (chunk) => options.err(chunk.replace(/\n$/, '')),
      });
      const result = toBoundaryResult({
        request,
        outcome,
        startedAt,
        finishedAt: new Date(),
        secretValues: secrets.values(),
        policy: { rawLogs: policy.rawData.allow.includes(type) ? 'allow' : 'deny' },
        // Attested with a throwaway key: the preview shows the body, not a signature anyone checks.
        key: { id: `${request.workspaceId}:v1`, workspaceId: request.workspaceId, root: randomBytes(32) },
        signer,
      });
      // What leaves, without the ids of this local run and the throwaway attestation.
      const leaves: Record<string, unknown> = { ...result };
      for (const key of ['attestation', 'runId', 'workspaceId']) delete leaves[key];
      options.out(JSON.stringify(leaves, null, 2));
    } catch (err) {
      status = 1;
      options.out(`error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return status;
}

/** `--params` as a JSON object, or a clear error. */
export function parseParamsOption(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('--params is not JSON');
  }
  const parsed = z.record(z.string(), z.unknown()).safeParse(value);
  if (!parsed.success) throw new Error('--params must be a JSON object');
  return parsed.data;
}
