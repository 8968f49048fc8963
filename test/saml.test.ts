/**
 * SAML 2.0 service provider building blocks against a test IdP that signs with xml-crypto, through
 * the real node-saml: what is accepted, and the exact reason each kind of bad response is refused.
 */
import { inflateRawSync } from 'node:zlib';
import { createSamlLogin, SamlError, type SamlErrorReason, type SamlLogin, type SamlSettings } from '../platform-api/auth/saml';
import { createTestSamlIdp, type TestSamlIdp, type TestSamlResponseOptions } from './harness/saml-idp';

const SP_ENTITY_ID = 'https://lookout.test.example/saml/metadata';
const ACS_URL = 'https://lookout.test.example/saml/acs';
const NAME_ID = 'ada@example.com';

let idp: TestSamlIdp;
let sp: SamlLogin;

function settings(overrides: Partial<SamlSettings> = {}): SamlSettings {
  return {
    entryPoint: idp.ssoUrl,
    spEntityId: SP_ENTITY_ID,
    acsUrl: ACS_URL,
    idpEntityId: idp.entityId,
    idpCerts: [idp.certPem],
    ...overrides,
  };
}

beforeAll(() => {
  idp = createTestSamlIdp();
  sp = createSamlLogin(settings());
});

/** A response the SP must accept, with some options changed. */
function response(overrides: Partial<TestSamlResponseOptions> = {}): string {
  return idp.response({ nameId: NAME_ID, email: NAME_ID, audience: SP_ENTITY_ID, recipient: ACS_URL, destination: ACS_URL, ...overrides });
}

/** The SamlError a validation fails with; also asserts the message does not quote the response. */
async function refusal(validation: Promise<unknown>): Promise<SamlErrorReason> {
  let error: unknown;
  try {
    await validation;
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(SamlError);
  const e = error as SamlError;
  expect(e.message).not.toContain(NAME_ID);
  expect(e.message).not.toContain('<');
  expect(e.cause).toBeUndefined();
  return e.reason;
}

const minutes = (n: number) => new Date(Date.now() + n * 60_000);

describe('validate', () => {
  it('accepts a response and assertion signed by the IdP and returns the subject', async () => {
    const notOnOrAfter = minutes(5);
    const identity = await sp.validate(response({ assertionId: '_assertion-1', notOnOrAfter }));
    expect(identity).toEqual({
      issuer: idp.entityId,
      nameId: NAME_ID,
      email: NAME_ID,
      assertionId: '_assertion-1',
      // The replay window ends when validate itself would stop accepting it: NotOnOrAfter + skew.
      notOnOrAfter: new Date(notOnOrAfter.getTime() + 60_000),
    });
  });

  it('accepts a response that answers the expected request and returns its id', async () => {
    const identity = await sp.validate(response({ inResponseTo: '_request-1' }), '_request-1');
    expect(identity.inResponseTo).toBe('_request-1');
  });

  it('keeps no state: the same response validates twice, replay detection is the caller’s', async () => {
    const samlResponse = response();
    const first = await sp.validate(samlResponse);
    const second = await sp.validate(samlResponse);
    expect(second.assertionId).toBe(first.assertionId);
  });

  it('refuses a response with no signature at all as unsigned', async () => {
    expect(await refusal(sp.validate(response({ signResponse: false, signAssertion: false })))).toBe('unsigned');
  });

  it('refuses a signed assertion in an unsigned response as unsigned', async () => {
    expect(await refusal(sp.validate(response({ signResponse: false })))).toBe('unsigned');
  });

  it('refuses a signed response whose assertion is unsigned as unsigned', async () => {
    expect(await refusal(sp.validate(response({ signAssertion: false })))).toBe('unsigned');
  });

  it('refuses a response signed by a key other than the IdP’s, even with its certificate in KeyInfo', async () => {
    expect(await refusal(sp.validate(response({ signWith: 'foreign' })))).toBe('signature');
  });

  it('refuses a response whose NameID was changed after signing', async () => {
    const tampered = response({ tamper: (xml) => xml.replace(`>${NAME_ID}</saml:NameID>`, '>eve@example.com</saml:NameID>') });
    expect(Buffer.from(tampered, 'base64').toString()).toContain('eve@example.com</saml:NameID>');
    expect(await refusal(sp.validate(tampered))).toBe('signature');
  });

  it('refuses a response with a second, unsigned assertion inserted after signing', async () => {
    const wrapped = response({
      tamper: (xml) =>
        xml.replace('</samlp:Response>', '<saml:Assertion ID="_evil" Version="2.0" IssueInstant="2020-01-01T00:00:00Z"/></samlp:Response>'),
    });
    expect(await refusal(sp.validate(wrapped))).toBe('malformed');
  });

  it('refuses an assertion for another audience', async () => {
    expect(await refusal(sp.validate(response({ audience: 'https://other-sp.example/metadata' })))).toBe('audience');
  });

  it('refuses an assertion whose Recipient is another ACS URL', async () => {
    expect(await refusal(sp.validate(response({ recipient: 'https://other-sp.example/acs' })))).toBe('recipient');
  });

  it('refuses a response whose Destination is another ACS URL', async () => {
    expect(await refusal(sp.validate(response({ destination: 'https://other-sp.example/acs' })))).toBe('destination');
  });

  it('accepts a response without Destination', async () => {
    await expect(sp.validate(response({ destination: undefined }))).resolves.toMatchObject({ nameId: NAME_ID });
  });

  it('refuses a response issued by another IdP entity, even signed with the trusted key', async () => {
    expect(await refusal(sp.validate(response({ issuer: 'https://other-idp.example/metadata' })))).toBe('issuer');
  });

  it('refuses an expired assertion', async () => {
    expect(await refusal(sp.validate(response({ notBefore: minutes(-20), notOnOrAfter: minutes(-10) })))).toBe('expired');
  });

  it('accepts an assertion expired by less than the clock skew', async () => {
    await expect(sp.validate(response({ notBefore: minutes(-5), notOnOrAfter: new Date(Date.now() - 10_000) }))).resolves.toMatchObject({
      nameId: NAME_ID,
    });
  });

  it('refuses an assertion not yet valid', async () => {
    expect(await refusal(sp.validate(response({ notBefore: minutes(10), notOnOrAfter: minutes(20) })))).toBe('not_yet_valid');
  });

  it('refuses an assertion older than maxAssertionAgeMs though before its NotOnOrAfter', async () => {
    const strict = createSamlLogin(settings({ maxAssertionAgeMs: 60_000 }));
    expect(await refusal(strict.validate(response({ notBefore: minutes(-10), notOnOrAfter: minutes(10) })))).toBe('expired');
  });

  it('refuses a response to another request when a request id is expected', async () => {
    expect(await refusal(sp.validate(response({ inResponseTo: '_other-request' }), '_request-1'))).toBe('in_response_to');
  });

  it('refuses an unsolicited response when a request id is expected', async () => {
    expect(await refusal(sp.validate(response(), '_request-1'))).toBe('in_response_to');
  });

  it('refuses input that is not a base64 SAML Response as malformed', async () => {
    expect(await refusal(sp.validate('not base64 at all!'))).toBe('malformed');
    expect(await refusal(sp.validate(Buffer.from('<unclosed').toString('base64')))).toBe('malformed');
    expect(await refusal(sp.validate(Buffer.from('<!DOCTYPE x [<!ENTITY a "b">]><x/>').toString('base64')))).toBe('malformed');
  });
});

describe('loginUrl', () => {
  it('redirects to the entryPoint with a deflated AuthnRequest, the RelayState, and returns the request id', async () => {
    const { url, requestId } = await sp.loginUrl('state-123');
    const target = new URL(url);
    expect(`${target.origin}${target.pathname}`).toBe(idp.ssoUrl);
    expect(target.searchParams.get('RelayState')).toBe('state-123');
    const request = inflateRawSync(Buffer.from(target.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    expect(requestId).toMatch(/^_[0-9a-f]{40}$/);
    expect(request).toContain(`ID="${requestId}"`);
    expect(request).toContain(`AssertionConsumerServiceURL="${ACS_URL}"`);
    expect(request).toContain(`Destination="${idp.ssoUrl}"`);
    expect(request).toContain(`>${SP_ENTITY_ID}</saml:Issuer>`);
  });

  it('makes a fresh request id on every call', async () => {
    const [a, b] = await Promise.all([sp.loginUrl('a'), sp.loginUrl('b')]);
    expect(a.requestId).not.toBe(b.requestId);
  });

  it('refuses a RelayState longer than the 80 bytes SAML allows', async () => {
    await expect(sp.loginUrl('x'.repeat(81))).rejects.toThrow(RangeError);
  });
});

describe('metadata and settings', () => {
  it('publishes the SP entity id and ACS URL in metadata', () => {
    const xml = sp.metadata();
    expect(xml).toContain(`entityID="${SP_ENTITY_ID}"`);
    expect(xml).toContain(`Location="${ACS_URL}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
  });

  it('refuses settings with a non-certificate or a plain-http ACS URL, naming the fields only', () => {
    expect(() => createSamlLogin(settings({ idpCerts: ['not a certificate'], acsUrl: 'http://lookout.example/acs' }))).toThrow(
      /^invalid SAML settings: acsUrl, idpCerts\.0$/,
    );
  });
});
