/**
 * Settings: one page with tabs at `#/settings/<tab>` — members and invitations, API tokens,
 * secrets, notification sinks, alert hooks and the audit log (each tab's file names its routes).
 * A tab the role may not use is not listed; opened directly, it says which role it needs.
 */
import type { ComponentType } from 'preact';
import type { Permission } from '../../../platform/permissions';
import type { Ctx } from '../ctx';
import { NotAllowed, PageHeader } from '../ui';
import { AuditTab } from './settings-audit';
import { HooksTab } from './settings-hooks';
import { MembersTab } from './settings-members';
import { SecretsTab } from './settings-secrets';
import { SinksTab } from './settings-sinks';
import { TokensTab } from './settings-tokens';

interface Tab {
  path: string;
  title: string;
  /** What the role needs to see the tab at all (changes inside it need more, checked there). */
  need: Permission;
  page: ComponentType<{ ctx: Ctx }>;
}

const TABS: Tab[] = [
  { path: 'members', title: 'Members', need: 'members.manage', page: MembersTab },
  { path: 'tokens', title: 'API tokens', need: 'tokens.manage', page: TokensTab },
  { path: 'secrets', title: 'Secrets', need: 'secrets.manage', page: SecretsTab },
  { path: 'sinks', title: 'Sinks', need: 'sinks.read', page: SinksTab },
  { path: 'hooks', title: 'Hooks', need: 'hooks.read', page: HooksTab },
  { path: 'audit', title: 'Audit log', need: 'audit.read', page: AuditTab },
];

export function SettingsPage({ ctx }: { ctx: Ctx }) {
  const visible = TABS.filter((t) => ctx.can(t.need));
  const asked = TABS.find((t) => t.path === ctx.rest[0]);
  const tab = asked ?? visible[0];
  const allowed = tab !== undefined && ctx.can(tab.need);
  const Page = tab?.page;
  return (
    <>
      <PageHeader title="Settings" />
      <nav aria-label="Settings" class="tabs">
        {visible.map((t) => (
          <a key={t.path} href={`#/settings/${t.path}`} aria-current={t === tab ? 'page' : undefined}>
            {t.title}
          </a>
        ))}
      </nav>
      {/* Only the owner role holds every permission these tabs need (platform/permissions.ts). */}
      {!allowed || !Page ? <NotAllowed role={ctx.role} need="owner" /> : <Page key={tab.path} ctx={ctx} />}
    </>
  );
}
