/** State handed from global setup to global teardown (same process). */
export interface HarnessState {
  dir: string;
  temporalPid: number;
  embeddedStop: (() => Promise<void>) | undefined;
  kubePids: number[];
}

const KEY = Symbol.for('lookout.test.harness');

export function setState(state: HarnessState): void {
  (globalThis as Record<symbol, unknown>)[KEY] = state;
}

export function getState(): HarnessState | undefined {
  return (globalThis as Record<symbol, unknown>)[KEY] as HarnessState | undefined;
}
