/**
 * `lookout keys rewrap`: moves every value wrapped under the master key to the current master key,
 * a batch per transaction, so that the old key can then be dropped from the configuration. Safe to
 * kill at any point and to run again (it resumes with what is left: values already under the
 * current key are skipped), and safe beside running Platform processes (a value changed meanwhile
 * is left for the next pass rather than overwritten).
 */
import type { Pool } from 'pg';
import { keyId } from '../../common/keyring';
import { inTransaction } from '../repos/db';
import { countStaleWrapped, replaceWrapped, staleWrapped, type WrappedKind, type WrappedValue } from '../repos/master-wrapped.repo';
import { MASTER_LABELS, type MasterKey } from './master-key';

const KINDS: WrappedKind[] = ['workspace_key', 'user_totp', 'oidc_flow'];

function labelOf(value: WrappedValue): string {
  const [a = '', b = '', c = ''] = value.key;
  switch (value.kind) {
    case 'workspace_key':
      return MASTER_LABELS.workspaceKey(b, keyId(a, Number(c)));
    case 'user_totp':
      return MASTER_LABELS.userTotp(a);
    case 'oidc_flow':
      return MASTER_LABELS.oidcFlow(Buffer.from(a, 'hex'));
  }
}

export interface RewrapProgress {
  kind: WrappedKind;
  rewrapped: number;
  skipped: number;
}

/**
 * Rewraps every value not under the current master key yet. `pauseMs` between batches spares a busy
 * database. Throws (after committing the batches before) when a value cannot be unwrapped with any
 * configured key: the key that wrapped it must be added to `LOOKOUT_MASTER_KEY_PREVIOUS`.
 */
export async function rewrapAll(
  pool: Pool,
  master: MasterKey,
  options: { batchSize?: number; pauseMs?: number; onBatch?: (p: RewrapProgress) => void } = {},
): Promise<{ rewrapped: number; skipped: number; left: Record<WrappedKind, number> }> {
  const batchSize = options.batchSize ?? 100;
  let rewrapped = 0;
  let skipped = 0;
  for (const kind of KINDS) {
    let after: string[] = [];
    for (;;) {
      const batch = await staleWrapped(pool, kind, master.currentHeader, after, batchSize);
      if (batch.length === 0) break;
      const done = await inTransaction(pool, async (tx) => {
        let moved = 0;
        for (const value of batch)
          if (await replaceWrapped(tx, value, master.wrap(master.unwrap(value.wrapped, labelOf(value)), labelOf(value)))) moved++;
        return moved;
      });
      rewrapped += done;
      skipped += batch.length - done;
      options.onBatch?.({ kind, rewrapped: done, skipped: batch.length - done });
      after = batch.at(-1)!.key;
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  }
  return { rewrapped, skipped, left: await countStaleWrapped(pool, master.currentHeader) };
}
