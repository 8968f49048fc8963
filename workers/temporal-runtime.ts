import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { Logger } from '../common/logger';

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * Installs the Temporal runtime once per process with its logs routed into the process's structured
 * logger, so that SDK and core messages land in the same JSON stream. With `prometheusAddress`
 * (a loopback `host:port`), the SDK's Core serves its worker metrics there (`temporal_*`: polls,
 * task latencies, slots, sticky cache), which the process's own /metrics appends. Their labels are
 * namespace, task queue, workflow and activity type (opaque by construction); no host name is
 * added (no global tags). Answers the address the SDK serves its metrics on, if it could bind it.
 */
export function installTemporalRuntime(logger: Logger, options: { prometheusAddress?: string | undefined } = {}): string | undefined {
  const level = logger.levelVal <= 20 ? 'DEBUG' : logger.levelVal <= 30 ? 'INFO' : logger.levelVal <= 40 ? 'WARN' : 'ERROR';
  const install = (prometheusAddress: string | undefined) =>
    Runtime.install({
      logger: new DefaultLogger(level, (entry: LogEntry) => {
        logger[LEVELS[entry.level]]({ temporal: true, ...entry.meta }, entry.message);
      }),
      ...(prometheusAddress
        ? {
            telemetryOptions: {
              metrics: { prometheus: { bindAddress: prometheusAddress, countersTotalSuffix: true, useSecondsForDurations: true } },
            },
          }
        : {}),
    });
  try {
    install(options.prometheusAddress);
    return options.prometheusAddress;
  } catch (err) {
    // The ephemeral port was taken in between: the worker runs on, without the SDK's metrics.
    if (!options.prometheusAddress) throw err;
    logger.warn({ err }, 'the Temporal SDK metrics endpoint could not start; SDK metrics are off');
    install(undefined);
    return undefined;
  }
}
