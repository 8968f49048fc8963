import { rmSync } from 'node:fs';
import { getState } from './state';

/** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone, so its files can be removed. */
async function stopProcessGroup(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pid, 'SIGKILL');
}

export default async function globalTeardown(): Promise<void> {
  const state = getState();
  if (!state) return;
  // kube-apiserver before etcd, then Temporal.
  for (const pid of [...state.kubePids].reverse()) await stopProcessGroup(pid);
  await stopProcessGroup(state.temporalPid);
  await state.embeddedStop?.();
  rmSync(state.dir, { recursive: true, force: true });
}
