/**
 * Failure messages and stack traces are moved into an encoded payload, so the codec encrypts them
 * too. Loaded by path (clients, workers, the workflow bundle, the replayer): keep it free of Node APIs.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
