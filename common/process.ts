/** Helpers shared by every process entry point. */
import { z } from 'zod';
import { ConfigError, parseConfig } from './config';

/** Parses the environment once; on error prints every bad variable and exits with status 78 (EX_CONFIG). */
export function loadConfigOrExit<S extends z.ZodObject>(processName: string, schema: S): z.infer<S> {
  try {
    return parseConfig(processName, schema);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** Runs `main`, reporting a start-up failure in one line (no stack for expected failures) and exiting non-zero. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const message =
      err instanceof z.ZodError ? `invalid input:\n${z.prettifyError(err)}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(1);
  });
}
