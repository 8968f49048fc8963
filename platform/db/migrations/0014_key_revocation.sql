-- Key lifecycle (issue 16): besides active (encrypts, attests) and retired (decrypts history,
-- attests nothing), a key can be revoked: refused everywhere, by the Platform, the Runner and the
-- codec server. Its wrapped material stays until the workspace is erased, so that a revocation is
-- an auditable state change and never a silent deletion; nothing unwraps a revoked key.
alter table workspace_keys drop constraint workspace_keys_state_check;
alter table workspace_keys add constraint workspace_keys_state_check check (state in ('active', 'retired', 'revoked'));
alter table workspace_keys add column revoked_at timestamptz;
