import { SecretError, type SecretProvider } from './secret-provider';

/** `env:NAME`: a variable of the Runner's own environment (e.g. from a Kubernetes Secret via `envFrom`). */
export function createEnvProvider(env: NodeJS.ProcessEnv): SecretProvider {
  return {
    scheme: 'env',
    async resolve(name) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SecretError(`env:${name}`, 'not a valid variable name');
      const value = env[name];
      if (value === undefined || value === '') throw new SecretError(`env:${name}`, 'not set in the Runner environment');
      return value;
    },
  };
}
