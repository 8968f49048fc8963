import { rmSync } from 'node:fs';
import { getState } from './state';
import { stopKubeCluster, stopProcessGroup } from '../../scripts/kube-cluster';

export default async function globalTeardown(): Promise<void> {
  const state = getState();
  if (!state) return;
  // kube-apiserver before etcd, then Temporal.
  await stopKubeCluster(state.kubePids);
  await stopProcessGroup(state.temporalPid);
  await state.embeddedStop?.();
  rmSync(state.dir, { recursive: true, force: true });
}
