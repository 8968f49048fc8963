/**
 * Sign in: email and password (POST /v1/auth/password), then the second factor (POST /v1/auth/mfa)
 * — at the first login with the authenticator set up on the spot and the recovery codes shown once.
 * OpenID Connect and SAML are offered only when GET /v1/auth/methods says they are configured.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import type { AuthMethods, MfaAnswer, MfaRequest, PasswordAnswer, PasswordLogin } from '../api-types';
import { InputField } from '../fields';
import { CopyButton, formatTime, PageHeader, ProblemBanner, useAction, useLoad } from '../ui';

export function LoginPage({ onSignedIn }: { onSignedIn: () => void }) {
  const [challenge, setChallenge] = useState<PasswordAnswer | undefined>(undefined);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | undefined>(undefined);
  // A failed look-up only hides the external logins: password sign-in works regardless.
  const methods = useLoad(() => api.get<AuthMethods>('/v1/auth/methods'), []);
  useEffect(() => {
    document.title = 'Sign in · Lookout';
  }, []);

  return (
    <main id="main" class="narrow login">
      <PageHeader title="Sign in" />
      {recoveryCodes ? (
        <RecoveryCodes codes={recoveryCodes} onDone={onSignedIn} />
      ) : challenge ? (
        <SecondFactor
          challenge={challenge}
          onStartOver={() => setChallenge(undefined)}
          onDone={(answer) => (answer.recoveryCodes?.length ? setRecoveryCodes(answer.recoveryCodes) : onSignedIn())}
        />
      ) : (
        <>
          <PasswordStep onChallenge={setChallenge} />
          {methods.data?.oidc || methods.data?.saml ? (
            <div class="login-methods">
              <p class="muted">Or use your organisation's sign-in:</p>
              {methods.data.oidc ? (
                <a class="button-link" href="/v1/auth/oidc/login">
                  Sign in with OpenID Connect
                </a>
              ) : null}
              {methods.data.saml ? (
                <a class="button-link" href="/v1/auth/saml/login">
                  Sign in with SAML
                </a>
              ) : null}
            </div>
          ) : null}
        </>
      )}
    </main>
  );
}

function PasswordStep({ onChallenge }: { onChallenge: (answer: PasswordAnswer) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void action
          .run(() => api.post<PasswordAnswer>('/v1/auth/password', { email: email.trim(), password } satisfies PasswordLogin))
          .then((answer) => {
            if (answer) onChallenge(answer);
          });
      }}
    >
      <ProblemBanner error={action.error} />
      <InputField id="login-email" label="Email" type="email" autocomplete="username" required value={email} onValue={setEmail} />
      <InputField
        id="login-password"
        label="Password"
        type="password"
        autocomplete="current-password"
        required
        value={password}
        onValue={setPassword}
      />
      <button type="submit" disabled={action.busy} aria-busy={action.busy}>
        Continue
      </button>
      <p class="visually-hidden" aria-live="polite">
        {action.busy ? 'Checking your password…' : ''}
      </p>
    </form>
  );
}

function SecondFactor({
  challenge,
  onStartOver,
  onDone,
}: {
  challenge: PasswordAnswer;
  onStartOver: () => void;
  onDone: (answer: MfaAnswer) => void;
}) {
  const [code, setCode] = useState('');
  // Recovery codes stand in for the authenticator only once it is set up (the API refuses them at enrolment).
  const [useRecovery, setUseRecovery] = useState(false);
  const action = useAction();
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), [useRecovery]);

  const submit = (e: Event) => {
    e.preventDefault();
    const trimmed = code.replace(/\s+/g, '');
    const body: MfaRequest = useRecovery
      ? { challenge: challenge.challenge, recoveryCode: trimmed.toLowerCase() }
      : { challenge: challenge.challenge, code: trimmed };
    void action
      .run(() => api.post<MfaAnswer>('/v1/auth/mfa', body))
      .then((answer) => {
        if (answer) onDone(answer);
        else setCode('');
      });
  };

  return (
    <form class="card" onSubmit={submit}>
      {challenge.mfa === 'enroll' ? (
        <section aria-labelledby="enroll-title">
          <h2 id="enroll-title">Set up your authenticator</h2>
          <p>
            This account signs in with a one-time code. Add it to an authenticator app (any TOTP app) with this secret, then enter the
            six-digit code the app shows.
          </p>
          <p class="secret-line">
            <code id="totp-secret">{challenge.secret}</code> <CopyButton text={challenge.secret} label="Copy the secret" />
          </p>
          <p class="muted small-print">
            The same as a URI, for apps that import one: <code class="break">{challenge.otpauthUri}</code>
          </p>
        </section>
      ) : (
        <p>Enter the code from your authenticator app.</p>
      )}
      <ProblemBanner error={action.error} />
      {useRecovery ? (
        <InputField
          id="login-recovery"
          label="Recovery code"
          inputRef={input}
          autocomplete="off"
          spellcheck={false}
          pattern="[A-Za-z0-9]{5}-[A-Za-z0-9]{5}"
          placeholder="abcde-12345"
          required
          value={code}
          onValue={setCode}
        />
      ) : (
        <InputField
          id="login-code"
          label="Authentication code"
          inputRef={input}
          autocomplete="one-time-code"
          inputMode="numeric"
          pattern="[0-9]{6}"
          maxLength={6}
          required
          value={code}
          onValue={setCode}
        />
      )}
      <p class="muted small-print">This step expires at {formatTime(challenge.expiresAt)}.</p>
      <div class="toolbar">
        <button type="submit" disabled={action.busy} aria-busy={action.busy}>
          Sign in
        </button>
        {challenge.mfa === 'verify' ? (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setUseRecovery(!useRecovery);
              setCode('');
              action.clear();
            }}
          >
            {useRecovery ? 'Use the authenticator app' : 'Use a recovery code'}
          </button>
        ) : null}
        <button type="button" class="secondary" onClick={onStartOver}>
          Start over
        </button>
      </div>
      <p class="visually-hidden" aria-live="polite">
        {action.busy ? 'Checking the code…' : ''}
      </p>
    </form>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <section class="secret-once" aria-labelledby="recovery-title">
      <h2 id="recovery-title">Recovery codes</h2>
      <p>
        <strong>Shown once.</strong> Keep these codes somewhere safe: each signs you in once if you lose your authenticator.
      </p>
      <ul class="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <div class="toolbar">
        <CopyButton text={codes.join('\n')} label="Copy all codes" />
        <button type="button" onClick={onDone}>
          Continue to the console
        </button>
      </div>
    </section>
  );
}
