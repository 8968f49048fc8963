/**
 * External logins for tests: a real OpenID provider (oidc-provider over HTTPS) and a test SAML IdP,
 * with the Platform's OIDC and SAML logins configured for them at the test public URL.
 */
import { createOidcLogin, type OidcLogin } from '../../platform-api/auth/oidc';
import { createSamlLogin, type SamlLogin } from '../../platform-api/auth/saml';
import { startOidcProvider, type TestOidcProvider } from './oidc-provider';
import { createTestSamlIdp, type TestSamlIdp } from './saml-idp';

export const PUBLIC_URL = 'https://lookout.example.test';
export const REDIRECT_URI = `${PUBLIC_URL}/v1/auth/oidc/callback`;
export const API_AUDIENCE = `${PUBLIC_URL}/api`;
export const ACS_URL = `${PUBLIC_URL}/v1/auth/saml/acs`;
export const SP_ENTITY_ID = `${PUBLIC_URL}/v1/auth/saml/metadata`;

export interface SsoFixtures {
  provider: TestOidcProvider;
  oidc: OidcLogin;
  idp: TestSamlIdp;
  saml: SamlLogin;
}

/** Starts the provider and the IdP and the logins for them; stop the provider when done. */
export async function startSsoFixtures(): Promise<SsoFixtures> {
  const provider = await startOidcProvider({ redirectUris: [REDIRECT_URI] });
  const oidc = await createOidcLogin({
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    redirectUri: REDIRECT_URI,
    audiences: [API_AUDIENCE],
    ca: provider.caPem,
  });
  const idp = createTestSamlIdp();
  const saml = createSamlLogin({
    entryPoint: idp.ssoUrl,
    spEntityId: SP_ENTITY_ID,
    acsUrl: ACS_URL,
    idpEntityId: idp.entityId,
    idpCerts: [idp.certPem],
  });
  return { provider, oidc, idp, saml };
}
