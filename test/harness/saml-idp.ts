/**
 * A test SAML 2.0 identity provider: an RSA key pair with a self-signed certificate (made with
 * openssl), and a builder of base64 SAMLResponses signed the way real IdPs sign them (RSA-SHA256,
 * exclusive c14n, enveloped signatures placed right after the Issuer, signing certificate in KeyInfo).
 * Options let a test produce each kind of bad response a service provider must refuse.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignedXml } from 'xml-crypto';

export interface TestSamlResponseOptions {
  nameId: string;
  email?: string;
  /** Audience in the AudienceRestriction. */
  audience: string;
  /** Recipient of the bearer SubjectConfirmationData. */
  recipient: string;
  /** Destination attribute of the Response; omitted when not given. */
  destination?: string;
  /** Set on both the Response and the SubjectConfirmationData. */
  inResponseTo?: string;
  /** Issuer of the Response and the Assertion; defaults to the IdP's entity id. */
  issuer?: string;
  /** Conditions NotBefore (and IssueInstant); defaults to now. */
  notBefore?: Date;
  /** Conditions and SubjectConfirmationData NotOnOrAfter; defaults to five minutes from now. */
  notOnOrAfter?: Date;
  assertionId?: string;
  /** Defaults to true. */
  signResponse?: boolean;
  /** Defaults to true. */
  signAssertion?: boolean;
  /** 'foreign' signs with a key pair the SP does not trust (its certificate still goes in KeyInfo). */
  signWith?: 'idp' | 'foreign';
  /** Applied to the XML after signing, to simulate tampering in transit. */
  tamper?: (xml: string) => string;
}

export interface TestSamlIdp {
  entityId: string;
  /** PEM certificate of the IdP signing key: what the SP trusts. */
  certPem: string;
  ssoUrl: string;
  /** A base64 SAMLResponse (HTTP-POST binding) built and signed as the options say. */
  response(o: TestSamlResponseOptions): string;
}

interface KeyPair {
  keyPem: string;
  certPem: string;
}

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
};

function makeKeyPair(name: string): KeyPair {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lookout-saml-${name}-`));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '2',
        '-subj',
        `/CN=Lookout test SAML IdP ${name}`,
      ],
      {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    return { keyPem: readFileSync(path.join(dir, 'key.pem'), 'utf8'), certPem: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function samlId(): string {
  // IDs are xs:ID (NCName): they must not start with a digit.
  return `_${randomBytes(16).toString('hex')}`;
}

/**
 * Signs the element with the given ID with an enveloped signature inserted right after its Issuer
 * child, as saml-schema-protocol/assertion require (Issuer, Signature, then the rest).
 */
function sign(xml: string, elementLocalName: 'Response' | 'Assertion', id: string, key: KeyPair): string {
  const sig = new SignedXml({
    privateKey: key.keyPem,
    publicCert: key.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  const element = `//*[local-name(.)='${elementLocalName}' and @ID='${id}']`;
  sig.addReference({
    xpath: element,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: `${element}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

/** A test IdP with a fresh key pair; a second, untrusted key pair backs `signWith: 'foreign'`. */
export function createTestSamlIdp(o: { entityId?: string } = {}): TestSamlIdp {
  const entityId = o.entityId ?? 'https://idp.test.lookout.example/metadata';
  const idpKey = makeKeyPair('idp');
  let foreignKey: KeyPair | undefined;

  return {
    entityId,
    certPem: idpKey.certPem,
    ssoUrl: 'https://idp.test.lookout.example/sso',
    response(r) {
      const key = r.signWith === 'foreign' ? (foreignKey ??= makeKeyPair('foreign')) : idpKey;
      const issuer = escapeXml(r.issuer ?? entityId);
      const now = new Date();
      const notBefore = r.notBefore ?? now;
      const notOnOrAfter = r.notOnOrAfter ?? new Date(now.getTime() + 5 * 60_000);
      const responseId = samlId();
      const assertionId = r.assertionId ?? samlId();
      const inResponseTo = r.inResponseTo === undefined ? '' : ` InResponseTo="${escapeXml(r.inResponseTo)}"`;
      const destination = r.destination === undefined ? '' : ` Destination="${escapeXml(r.destination)}"`;
      const issueInstant = notBefore.toISOString();

      const attributes =
        r.email === undefined
          ? ''
          : `<saml:AttributeStatement><saml:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${escapeXml(r.email)}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`;

      const assertion =
        `<saml:Assertion xmlns:saml="${NS.saml}" ID="${assertionId}" Version="2.0" IssueInstant="${issueInstant}">` +
        `<saml:Issuer>${issuer}</saml:Issuer>` +
        `<saml:Subject>` +
        `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${escapeXml(r.nameId)}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
        `<saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter.toISOString()}" Recipient="${escapeXml(r.recipient)}"${inResponseTo}/>` +
        `</saml:SubjectConfirmation>` +
        `</saml:Subject>` +
        `<saml:Conditions NotBefore="${notBefore.toISOString()}" NotOnOrAfter="${notOnOrAfter.toISOString()}">` +
        `<saml:AudienceRestriction><saml:Audience>${escapeXml(r.audience)}</saml:Audience></saml:AudienceRestriction>` +
        `</saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${issueInstant}" SessionIndex="${samlId()}">` +
        `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>` +
        `</saml:AuthnStatement>` +
        attributes +
        `</saml:Assertion>`;

      let xml =
        `<samlp:Response xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${responseId}" Version="2.0" IssueInstant="${issueInstant}"${destination}${inResponseTo}>` +
        `<saml:Issuer>${issuer}</saml:Issuer>` +
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
        assertion +
        `</samlp:Response>`;

      // The assertion is signed first: the Response signature then covers the signed assertion.
      if (r.signAssertion ?? true) xml = sign(xml, 'Assertion', assertionId, key);
      if (r.signResponse ?? true) xml = sign(xml, 'Response', responseId, key);
      if (r.tamper) xml = r.tamper(xml);
      return Buffer.from(xml, 'utf8').toString('base64');
    },
  };
}
