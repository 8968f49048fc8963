/** `k8s:<namespace>/<secret>#<key>`: a key of a Kubernetes Secret, read with the Runner's service account. */
import type { KubeClients } from '../kube';
import { SecretError, type SecretProvider } from './secret-provider';

export function createK8sProvider(kube: KubeClients): SecretProvider {
  return {
    scheme: 'k8s',
    async resolve(reference) {
      const ref = `k8s:${reference}`;
      const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)#([-._a-zA-Z0-9]+)$/.exec(reference);
      if (!m?.[1] || !m[3] || !m[5]) throw new SecretError(ref, 'must be k8s:<namespace>/<secret>#<key>');
      let data: Record<string, string> | undefined;
      try {
        data = (await kube.core.readNamespacedSecret({ namespace: m[1], name: m[3] })).data;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 403) throw new SecretError(ref, "access denied: the Runner's service account may not read it");
        if (code === 404) throw new SecretError(ref, 'no such Secret');
        throw new SecretError(ref, 'the Kubernetes API did not answer');
      }
      const encoded = data?.[m[5]];
      if (!encoded) throw new SecretError(ref, `the Secret has no key "${m[5]}"`);
      return Buffer.from(encoded, 'base64').toString('utf8');
    },
  };
}
