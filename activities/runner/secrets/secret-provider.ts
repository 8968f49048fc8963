export interface SecretProvider {
  /** The scheme this provider answers for: `env`, `k8s`, `vault`. */
  readonly scheme: string;
  /** Resolves the part after `scheme:`. Throws {@link SecretError} when the secret cannot be had. */
  resolve(reference: string, signal?: AbortSignal): Promise<string>;
}

/** A secret that cannot be resolved; `reason` never contains the value. */
export class SecretError extends Error {
  constructor(
    readonly reference: string,
    readonly reason: string,
  ) {
    super(`secret ${reference}: ${reason}`);
    this.name = 'SecretError';
  }
}
