/**
 * Secret providers behind one interface. A run resolves references through a {@link RunSecrets},
 * which remembers every value it handed out so that the boundary can redact them from the result.
 * Errors name the reference, never the value.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../../../common/errors';
import type { KubeClients } from '../kube';
import { createEnvProvider } from './env.provider';
import { createK8sProvider } from './k8s.provider';
import { createVaultProvider, type VaultProviderOptions } from './vault.provider';
import { SecretError, type SecretProvider } from './secret-provider';

export { SecretError, type SecretProvider };

/** The Runner's providers: `env:` always; `k8s:` with a cluster identity; `vault:` when a Vault is configured. */
export function createSecretProviders(
  env: NodeJS.ProcessEnv = process.env,
  options: { kube?: KubeClients | undefined; vault?: VaultProviderOptions | undefined } = {},
): Map<string, SecretProvider> {
  const providers = [createEnvProvider(env)];
  if (options.kube) providers.push(createK8sProvider(options.kube));
  if (options.vault) providers.push(createVaultProvider(options.vault));
  return new Map(providers.map((p) => [p.scheme, p]));
}

/** The secrets of one run: resolves references and keeps the values for redaction, in memory only. */
export class RunSecrets {
  readonly #values = new Set<string>();

  constructor(
    private readonly providers: ReadonlyMap<string, SecretProvider>,
    private readonly signal?: AbortSignal,
  ) {}

  /** Resolves `scheme:rest`; a failure is a non-retryable `SecretUnavailable` naming the reference. */
  async resolve(ref: string): Promise<string> {
    const colon = ref.indexOf(':');
    const scheme = colon > 0 ? ref.slice(0, colon) : '';
    const provider = this.providers.get(scheme);
    try {
      if (!provider)
        throw new SecretError(ref, scheme ? `provider "${scheme}" is not configured on this Runner` : 'not a secret reference');
      const value = await provider.resolve(ref.slice(colon + 1), this.signal);
      if (value.length > 0) this.#values.add(value);
      return value;
    } catch (err) {
      const reason = err instanceof SecretError ? err.reason : 'could not be read';
      throw ApplicationFailure.create({ type: FailureType.SecretUnavailable, message: `secret ${ref}: ${reason}`, nonRetryable: true });
    }
  }

  /** Every value resolved so far in this run. */
  values(): readonly string[] {
    return [...this.#values];
  }
}
