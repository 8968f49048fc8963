/**
 * Set up an account from an invitation (`#/claim?code=…`, the link in the invitation mail), without a
 * session: the code and a new password go to POST /v1/auth/invitations/accept, then the person signs in.
 * An account that already has a password joins without one (the API says so; we offer that).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, type ProblemError } from '../api';
import type { AcceptedInvitation, AcceptInvitationRequest } from '../api-types';
import { InputField } from '../fields';
import { PageHeader, ProblemBanner, useAction } from '../ui';

/** NIST SP 800-63B, as the API checks it (identity.service.ts NewPassword): length only. */
const MIN_PASSWORD = 12;

/** The API refuses a password for an account that has one already: it joins without. */
function hasPasswordAlready(error: ProblemError | undefined): boolean {
  return Boolean(error?.problem.errors?.some((e) => e.path === 'password' && e.message.startsWith('not allowed')));
}

export function ClaimPage({ query }: { query: URLSearchParams }) {
  const [invitation, setInvitation] = useState(query.get('code') ?? '');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState<string | undefined>(undefined);
  const [accepted, setAccepted] = useState<AcceptedInvitation | undefined>(undefined);
  const action = useAction();
  useEffect(() => {
    document.title = 'Set up your account · Lookout';
    // The code is kept in the form only: out of the address bar, the history and what is shared of the screen.
    if (query.has('code')) history.replaceState(null, '', '#/claim');
  }, []);

  const accept = (withPassword: boolean) =>
    void action
      .run(() =>
        api.post<AcceptedInvitation>('/v1/auth/invitations/accept', {
          invitation: invitation.trim(),
          ...(withPassword ? { password } : {}),
        } satisfies AcceptInvitationRequest),
      )
      .then((answer) => {
        if (answer) setAccepted(answer);
      });

  if (accepted)
    return (
      <main id="main" class="narrow">
        <PageHeader title="Set up your account" />
        <div class="notice" role="status">
          <p>
            {accepted.role ? (
              <>
                You joined the workspace as <strong>{accepted.role}</strong>.{' '}
              </>
            ) : (
              'Your password is set. '
            )}
            Sign in as <strong>{accepted.email}</strong>; at the first sign-in you set up an authenticator app.
          </p>
        </div>
        <p>
          <a class="button-link" href="#/issues">
            Sign in
          </a>
        </p>
      </main>
    );

  return (
    <main id="main" class="narrow">
      <PageHeader title="Set up your account" />
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (password.length < MIN_PASSWORD) return setMismatch(`The password needs at least ${MIN_PASSWORD} characters.`);
          if (password !== repeat) return setMismatch('The two passwords differ.');
          setMismatch(undefined);
          accept(true);
        }}
      >
        <p>Choose the password for the account this invitation is for. Long passphrases are welcome; there are no other rules.</p>
        <ProblemBanner error={action.error} />
        {hasPasswordAlready(action.error) ? (
          <p>
            Your account has a password already.{' '}
            <button type="button" class="secondary small" disabled={action.busy} onClick={() => accept(false)}>
              Join with my existing account
            </button>
          </p>
        ) : null}
        <InputField
          id="claim-code"
          label="Invitation code"
          autocomplete="off"
          spellcheck={false}
          required
          value={invitation}
          onValue={setInvitation}
        />
        <InputField
          id="claim-password"
          label="New password"
          hint={`At least ${MIN_PASSWORD} characters.`}
          type="password"
          autocomplete="new-password"
          minLength={MIN_PASSWORD}
          required
          value={password}
          onValue={setPassword}
        />
        <InputField
          id="claim-repeat"
          label="Repeat the password"
          type="password"
          autocomplete="new-password"
          required
          aria-invalid={mismatch ? true : undefined}
          aria-describedby={mismatch ? 'claim-mismatch' : undefined}
          value={repeat}
          onValue={setRepeat}
        />
        {mismatch ? (
          <p id="claim-mismatch" class="problem" role="alert">
            {mismatch}
          </p>
        ) : null}
        <button type="submit" disabled={action.busy} aria-busy={action.busy}>
          Set password
        </button>
      </form>
    </main>
  );
}
