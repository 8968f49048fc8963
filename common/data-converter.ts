import type { DataConverter } from '@temporalio/common';
import { WorkspaceCodec, type CodecRefusal } from './codec';
import type { Keyring } from './keyring';

/** The path of the failure converter module, for workers, bundles and clients. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The one data converter every client, worker, replayer and codec server uses. */
export function lookoutDataConverter(keyring: Keyring, onRefusal?: (refusal: CodecRefusal) => void): DataConverter {
  return { payloadCodecs: [new WorkspaceCodec(keyring, onRefusal)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
