/**
 * Check packs: checks users bring, in a folder with a `pack.yaml`. A pack's check has the type
 * `<pack>/<check>` (built-in types have no `/`, so no pack can shadow one), a JSON Schema for its
 * parameters, what it needs (Kubernetes read verbs, destinations, secret bindings) and one of two
 * kinds: declarative (objects to read, a CEL predicate and an issue template; no code runs besides
 * CEL) or script (an executable the Runner runs in a sandbox).
 *
 * The manifest schema lives here because both sides use it: the Runner loads packs pinned in its
 * policy, the Platform reads the summary a Runner reports (`describeRunner`) and validates task
 * parameters against the check's schema. The Platform never holds a pack's code, only its manifest
 * and digest.
 */
import { Validator } from '@cfworker/json-schema';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';

export const PACK_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const Name = z.string().regex(PACK_NAME, 'must be a lower-case name (letters, digits, -)').max(40);

/** `<pack>/<check>`: at most 64 characters, as every check type. */
export const PACK_CHECK_TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

export function packCheckType(pack: string, check: string): string {
  return `${pack}/${check}`;
}

export function isPackCheckType(type: string): boolean {
  return type.length <= 64 && PACK_CHECK_TYPE.test(type);
}

/** `{pack, check}` of a pack check type, or undefined for a built-in one. */
export function splitPackCheckType(type: string): { pack: string; check: string } | undefined {
  const m = PACK_CHECK_TYPE.exec(type);
  return m && type.length <= 64 ? { pack: m[1]!, check: m[3]! } : undefined;
}

/** The only verbs a pack may ask for: Lookout's checks read, they never write. */
export const READ_VERBS = ['get', 'list', 'watch'] as const;

const RbacName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$|^$/, 'must be an API group or resource name');

/** One RBAC rule of read verbs: the pack's declared need, and what the policy grants a pack. */
export const KubernetesRule = z.strictObject({
  apiGroups: z.array(RbacName).min(1).max(16),
  resources: z
    .array(RbacName.refine((r) => r !== '*', 'name the resources: * is not allowed'))
    .min(1)
    .max(32)
    .refine((rs) => !rs.some((r) => r === 'secrets' || r.startsWith('secrets/')), 'secrets are read through secret bindings only'),
  verbs: z
    .array(z.string().max(32))
    .min(1)
    .max(3)
    .superRefine((verbs, ctx) => {
      for (const v of verbs)
        if (!(READ_VERBS as readonly string[]).includes(v))
          ctx.addIssue({
            code: 'custom',
            message: `verb ${JSON.stringify(v.slice(0, 32))} is not a read verb (get, list, watch): packs only read`,
          });
    }),
});
export type KubernetesRule = z.infer<typeof KubernetesRule>;

/** A host a script may connect to (the policy's destinations granted to the pack must also allow it). */
export const PackDestination = z.strictObject({
  host: z
    .string()
    .max(253)
    .transform((h) => h.toLowerCase())
    .refine((h) => /^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(h), 'must be a host name or *.suffix'),
  port: z.number().int().min(1).max(65535).optional(),
  scheme: z.enum(['https', 'http']).default('https'),
});
export type PackDestination = z.infer<typeof PackDestination>;

export const PackNeeds = z
  .strictObject({
    kubernetes: z.array(KubernetesRule).max(32).default([]),
    destinations: z.array(PackDestination).max(32).default([]),
    /** Names of the policy's secret bindings the check reads (scripts get them as files). */
    secrets: z.array(Name).max(16).default([]),
  })
  .default({ kubernetes: [], destinations: [], secrets: [] });
export type PackNeeds = z.infer<typeof PackNeeds>;

/** A CEL expression, compiled when the pack is loaded. */
const Cel = z.string().min(1).max(4096);

const ObjectKind = z.strictObject({
  /** `v1`, `apps/v1`, `policy/v1`, … */
  apiVersion: z
    .string()
    .max(253)
    .regex(/^([a-z0-9.-]+\/)?v[0-9a-z]+$/, 'must be an apiVersion such as v1 or apps/v1'),
  kind: z
    .string()
    .max(63)
    .regex(/^[A-Z][A-Za-z0-9]*$/, 'must be a Kind such as Pod'),
  /** A label selector; may be a CEL expression over `params` when written as `${…}`. */
  labelSelector: z.string().max(512).optional(),
});

export const DeclarativeSpec = z.strictObject({
  /** The objects the predicate is evaluated on, one by one. */
  read: ObjectKind.extend({
    /** CEL over `params` giving the namespaces to read (a list of strings); default every namespace. */
    namespaces: Cel.optional(),
  }),
  /** Further object lists the expressions may use, by variable name (e.g. `pdbs`), read in the same namespaces. */
  context: z.record(z.string().regex(/^[a-z][a-zA-Z0-9]{0,30}$/, 'must be a CEL identifier'), ObjectKind).default({}),
  /** CEL over `object`, `params` and the context lists: true when the object has the problem. */
  predicate: Cel,
  issue: z.strictObject({
    /** 1..4, or a CEL expression giving one. */
    severity: z.union([z.number().int().min(1).max(4), Cel]),
    title: Cel,
    /** CEL giving the resource's kind, namespace and name; default the object's own. */
    resource: z.strictObject({ kind: Cel.optional(), namespace: Cel.optional(), name: Cel.optional() }).default({}),
    expected: Cel,
    actual: Cel,
    nextSteps: z.array(Cel).max(10).default([]),
  }),
  /** Summary when nothing is found; the default names the count of objects read. */
  okSummary: z.string().max(256).optional(),
});
export type DeclarativeSpec = z.infer<typeof DeclarativeSpec>;

export const SCRIPT_INTERPRETERS = ['bash', 'sh', 'python3', 'node'] as const;

export const ScriptSpec = z.strictObject({
  /** The executable, relative to the pack's folder. */
  run: z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/, 'must be a relative path inside the pack')
    .refine((p) => !p.split('/').includes('..'), 'may not leave the pack'),
  interpreter: z.enum(SCRIPT_INTERPRETERS),
  timeoutSeconds: z.number().int().min(1).max(600).default(60),
  memoryMiB: z.number().int().min(16).max(4096).default(256),
});
export type ScriptSpec = z.infer<typeof ScriptSpec>;

/** A JSON Schema (an object schema) for a check's parameters; bounded in size, never executed. */
export const ParameterSchema = z
  .record(z.string(), z.unknown())
  .refine((s) => s['type'] === 'object', 'must be a JSON Schema of type object')
  .refine((s) => canonicalJson(s).length <= 16_384, 'may be at most 16 KiB')
  .refine((s) => {
    try {
      new Validator(s, '2020-12', false);
      return true;
    } catch {
      return false;
    }
  }, 'is not a usable JSON Schema');

export const PackCheck = z
  .strictObject({
    name: Name,
    description: z.string().min(1).max(1024),
    parameters: ParameterSchema.default({ type: 'object', additionalProperties: false }),
    needs: PackNeeds,
    declarative: DeclarativeSpec.optional(),
    script: ScriptSpec.optional(),
  })
  .refine((c) => (c.declarative === undefined) !== (c.script === undefined), 'give exactly one of declarative or script');
export type PackCheck = z.infer<typeof PackCheck>;

export const PackManifest = z
  .strictObject({
    name: Name,
    version: z
      .string()
      .max(64)
      .regex(/^[0-9A-Za-z.+-]+$/, 'must be a version such as 1.0.0'),
    description: z.string().max(1024).default(''),
    checks: z.array(PackCheck).min(1).max(100),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.checks.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: `duplicate check ${c.name}` });
      seen.add(c.name);
      if (packCheckType(p.name, c.name).length > 64)
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: 'the type <pack>/<check> may be at most 64 characters' });
    });
  });
export type PackManifest = z.infer<typeof PackManifest>;

/** What a Runner reports of a pack it loaded: the manifest's shape and its digest, never its code. */
export const PackSummary = z.strictObject({
  name: Name,
  version: z.string().max(64),
  description: z.string().max(1024),
  /** `sha256:` over the pack folder's files (paths, modes and contents). */
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  source: z.strictObject({
    kind: z.enum(['git', 'dir']),
    commit: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .optional(),
    signed: z.boolean(),
  }),
  checks: z
    .array(
      z.strictObject({
        type: z.string().max(64),
        description: z.string().max(1024),
        kind: z.enum(['declarative', 'script']),
        parameters: ParameterSchema,
        needs: z.strictObject({
          kubernetes: z.array(KubernetesRule).max(32),
          destinations: z.array(PackDestination).max(32),
          secrets: z.array(Name).max(16),
        }),
      }),
    )
    .max(100),
});
export type PackSummary = z.infer<typeof PackSummary>;

export function summarizePack(manifest: PackManifest, digest: string, source: PackSummary['source']): PackSummary {
  return {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    digest,
    source,
    checks: manifest.checks.map((c) => ({
      type: packCheckType(manifest.name, c.name),
      description: c.description,
      kind: c.declarative ? 'declarative' : 'script',
      parameters: c.parameters,
      needs: c.needs,
    })),
  };
}

/**
 * Validates parameters against a check's JSON Schema (draft 2020-12, interpreted: a schema from a
 * Runner is never compiled to code). Answers the problems as `path message` strings, empty when valid.
 */
export function parameterProblems(schema: Record<string, unknown>, params: unknown): string[] {
  if (canonicalJson(params ?? {}).length > 65_536) return ['(root) the parameters may be at most 64 KiB'];
  const result = new Validator(schema, '2020-12', false).validate(params ?? {});
  if (result.valid) return [];
  // The innermost errors say what is wrong; the outer ones only that a subschema failed.
  const leaves = result.errors.filter((e) => !['properties', 'allOf', 'items', 'prefixItems', '$ref'].includes(e.keyword));
  return (leaves.length ? leaves : result.errors).slice(0, 10).map((e) => {
    const path = e.instanceLocation.replace(/^#\/?/, '').replaceAll('/', '.') || '(root)';
    return `${path} ${e.error}`;
  });
}
