/**
 * SAML 2.0 Web Browser SSO for one IdP, as a service provider: AuthnRequests over HTTP-Redirect,
 * Responses over HTTP-POST. Signature verification, audience and the Conditions time window are
 * node-saml's; the checks it does not make for a Response (Issuer, Recipient, Destination, Status,
 * bearer SubjectConfirmationData times, InResponseTo against a request id the caller holds) are made
 * here. No routes, no storage: the caller binds request ids to the browser and keeps the replay cache.
 *
 * Nothing from an assertion or a response (names, addresses, XML) goes into an error message.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { SAML, ValidateInResponseTo, SamlStatusError, type Profile, type SamlConfig } from '@node-saml/node-saml';
import { z } from 'zod';

export interface SamlSettings {
  /** IdP SSO URL (HTTP-Redirect binding). */
  entryPoint: string;
  /** Our SP entity id; also the Audience we require. */
  spEntityId: string;
  /** Our Assertion Consumer Service URL (HTTP-POST); Recipient and Destination must equal it. */
  acsUrl: string;
  /** The IdP's entity id (Issuer we require). */
  idpEntityId: string;
  /** PEM certificate(s) of the IdP signing key. More than one while the IdP rolls its key. */
  idpCerts: string[];
  /** Tolerated clock difference with the IdP, in ms, applied to every time check. Default 60 000, at most 300 000. */
  clockSkewMs?: number;
  /** Max assertion age: an assertion older than IssueInstant + this is refused even before its NotOnOrAfter. No limit when unset. */
  maxAssertionAgeMs?: number;
}

export interface SamlIdentity {
  /** The IdP entity id (equal to `SamlSettings.idpEntityId`). */
  issuer: string;
  /** Subject NameID; unique only together with `issuer`. */
  nameId: string;
  email?: string;
  displayName?: string;
  /** Assertion ID: the replay-detection key. */
  assertionId: string;
  /**
   * When the assertion stops being valid: keep its id for replay detection until then. This is the
   * earliest of the bearer confirmation's and the Conditions' NotOnOrAfter (and IssueInstant +
   * maxAssertionAgeMs), plus the clock skew, so it is the moment `validate` itself stops accepting it.
   */
  notOnOrAfter: Date;
  /** The request id this response answers; absent for an IdP-initiated (unsolicited) response. */
  inResponseTo?: string;
}

/** Why a SAMLResponse was refused. */
export type SamlErrorReason =
  /** The Response or its Assertion carries no signature. */
  | 'unsigned'
  /** A signature does not verify with a trusted certificate, or covers something else than its parent. */
  | 'signature'
  | 'audience'
  | 'recipient'
  | 'destination'
  | 'issuer'
  /** Past NotOnOrAfter (Conditions or bearer confirmation), or older than maxAssertionAgeMs. */
  | 'expired'
  | 'not_yet_valid'
  /** The IdP answered with a non-Success status. */
  | 'status'
  | 'in_response_to'
  /** Not base64, not XML, not a SAML 2.0 Response with one Assertion, or a required element is missing. */
  | 'malformed';

/** A refused SAMLResponse. `message` is fixed text: it never quotes the response. */
export class SamlError extends Error {
  constructor(
    readonly reason: SamlErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SamlError';
  }
}

export interface SamlLogin {
  /**
   * Redirect URL to the IdP with a fresh, unsigned AuthnRequest (HTTP-Redirect binding) asking for
   * a POST to `acsUrl`, and its request id. The caller binds the id to the browser (e.g. a cookie)
   * and passes it to `validate` as `expectedRequestId`. Neither NameID format nor authentication
   * context is requested: the IdP decides (a RequestedAuthnContext fails logins with MFA on some
   * IdPs). `relayState` is sent as is and must be at most 80 bytes (SAML Bindings §3.4.3); throws
   * RangeError otherwise. Makes no network call.
   */
  loginUrl(relayState: string): Promise<{ url: string; requestId: string }>;
  /**
   * Validates a POSTed SAMLResponse (base64, HTTP-POST binding) and returns who signed in. Throws
   * SamlError (see its `reason`) on any refusal; makes no network call and keeps no state.
   *
   * Requires all of:
   * - a signed Response AND a signed Assertion, each verifying with one of `idpCerts` (RSA-SHA256 or
   *   stronger, per xml-crypto). Both are required because the Response signature is what covers
   *   Destination, Status and InResponseTo, and the Assertion signature what the assertion is trusted
   *   for on its own. Okta signs both by default; Microsoft Entra ID ("Sign SAML response and
   *   assertion"), AD FS (`SamlResponseSignature MessageAndAssertion`), Google Workspace ("Signed
   *   response") and Keycloak ("Sign assertions") must be set to.
   * - exactly one, unencrypted Assertion; Status Success;
   * - Issuer of the Response and of the Assertion === `idpEntityId`;
   * - Audience === `spEntityId`;
   * - Destination === `acsUrl` when present;
   * - a bearer SubjectConfirmation whose Recipient === `acsUrl`, with NotOnOrAfter in the future and
   *   NotBefore (if any) past;
   * - Conditions NotBefore / NotOnOrAfter and `maxAssertionAgeMs`, all with `clockSkewMs` tolerance;
   * - if `expectedRequestId` is given, InResponseTo of the Response and of the bearer confirmation
   *   equal to it; if not, a response is accepted solicited or not (IdP-initiated), and the caller
   *   decides with `inResponseTo`.
   *
   * Replay is NOT detected here: the caller must refuse an `assertionId` already seen, remembering it
   * until `notOnOrAfter`. The input is limited to 1 MiB of base64 and may not contain a DTD.
   */
  validate(samlResponseB64: string, expectedRequestId?: string): Promise<SamlIdentity>;
  /** SP metadata XML (entity id, ACS URL, WantAssertionsSigned). Unsigned; no SP certificate. */
  metadata(): string;
}

/** The few DOM members read here (xmldom implements them). */
interface XmlNode {
  readonly nodeType: number;
  readonly firstChild: XmlNode | null;
  readonly nextSibling: XmlNode | null;
  readonly textContent: string | null;
}
interface XmlElement extends XmlNode {
  readonly namespaceURI: string | null;
  readonly localName: string | null;
  hasAttribute(name: string): boolean;
  getAttribute(name: string): string | null;
}
interface XmlDocument {
  readonly documentElement: XmlElement | null;
}
interface XmlParser {
  parseFromString(xml: string, mimeType: 'text/xml'): XmlDocument | undefined;
}
type XmlParserConstructor = new (options: {
  errorHandler: Record<'warning' | 'error' | 'fatalError', (message: string) => void>;
}) => XmlParser;

// The parser node-saml and xml-crypto verify signatures with (a dependency of node-saml, resolved
// from the project root): reading what they verified with another parser would open the door to
// parser-differential attacks. Loaded untyped because its typings add the DOM lib to the whole
// program (`/// <reference lib="dom" />`), which breaks Node's stream types elsewhere.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DOMParser } = require('@xmldom/xmldom') as { DOMParser: XmlParserConstructor };

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
} as const;
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const CM_BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const MAX_RESPONSE_B64 = 1024 * 1024;
const MAX_RELAY_STATE_BYTES = 80;

const EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];
const DISPLAY_NAME_ATTRIBUTES = [
  'displayName',
  'urn:oid:2.16.840.1.113730.3.1.241',
  'http://schemas.microsoft.com/identity/claims/displayname',
  'name',
];

function isWebUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  // Plain http only on loopback, for development: assertions are bearer credentials.
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}

function isCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

const settingsSchema = z.strictObject({
  entryPoint: z.string().refine(isWebUrl, 'must be an https URL (http only on loopback)'),
  spEntityId: z.string().trim().min(1),
  acsUrl: z.string().refine(isWebUrl, 'must be an https URL (http only on loopback)'),
  idpEntityId: z.string().trim().min(1),
  idpCerts: z.array(z.string().refine(isCertificate, 'must be a PEM X.509 certificate')).min(1),
  // node-saml turns time checks off for -1: never let a negative value through.
  clockSkewMs: z.number().int().min(0).max(300_000).default(60_000),
  maxAssertionAgeMs: z.number().int().positive().optional(),
});

/** A SAML ID (xs:ID, an NCName): must not start with a digit. Same shape as node-saml's own. */
function newRequestId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

function malformed(message: string): SamlError {
  return new SamlError('malformed', message);
}

/** Parses XML and returns its document element; malformed when not well-formed. */
function parseXml(xml: string, what: string): XmlElement {
  // SAML messages carry no DTD (SAML Bindings §3.5.5.3 forbids it for POST); refusing one up front
  // rules out entity tricks whatever the parser does with them.
  if (/<!DOCTYPE/i.test(xml)) throw malformed(`${what} contains a DTD`);
  let failed = false;
  const doc = new DOMParser({
    errorHandler: {
      warning: () => undefined,
      error: () => {
        failed = true;
      },
      fatalError: () => {
        failed = true;
      },
    },
  }).parseFromString(xml, 'text/xml');
  const root = doc?.documentElement;
  if (failed || !root) throw malformed(`${what} is not well-formed XML`);
  return root;
}

function childElements(parent: XmlElement, ns: string, localName: string): XmlElement[] {
  const found: XmlElement[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1) {
      const element = node as XmlElement;
      if (element.namespaceURI === ns && element.localName === localName) found.push(element);
    }
  }
  return found;
}

/** The single child element of that name, undefined when absent; more than one is malformed. */
function onlyChild(parent: XmlElement, ns: string, localName: string): XmlElement | undefined {
  const found = childElements(parent, ns, localName);
  if (found.length > 1) throw malformed(`more than one ${localName} element`);
  return found[0];
}

function attribute(element: XmlElement, name: string): string | undefined {
  return element.hasAttribute(name) ? (element.getAttribute(name) ?? undefined) : undefined;
}

function timeAttribute(element: XmlElement, name: string): number | undefined {
  const value = attribute(element, name);
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw malformed(`${element.localName} ${name} is not a date-time`);
  return ms;
}

function issuerOf(element: XmlElement): string | undefined {
  return onlyChild(element, NS.saml, 'Issuer')?.textContent?.trim() || undefined;
}

function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() || undefined;
  if (Array.isArray(value)) {
    for (const v of value) {
      const s = firstString(v);
      if (s) return s;
    }
  }
  return undefined;
}

function profileAttribute(profile: Profile, names: string[]): string | undefined {
  const attributes = profile.attributes;
  if (typeof attributes !== 'object' || attributes === null) return undefined;
  for (const name of names) {
    const value = firstString((attributes as Record<string, unknown>)[name]);
    if (value) return value;
  }
  return undefined;
}

/**
 * node-saml reports refusals as plain Errors whose messages quote the response (audience values,
 * status messages). Map them to a reason and a fixed message, and do not keep them as `cause`, so
 * the response cannot reach a log through the error chain.
 */
function fromNodeSaml(err: unknown): SamlError {
  if (err instanceof SamlError) return err;
  if (err instanceof SamlStatusError) return new SamlError('status', 'the IdP returned a non-success status');
  const message = err instanceof Error ? err.message : '';
  if (/audience/i.test(message)) return new SamlError('audience', 'the assertion is not addressed to this service provider');
  if (/not yet valid/i.test(message)) return new SamlError('not_yet_valid', 'the assertion is not yet valid');
  if (/expired/i.test(message)) return new SamlError('expired', 'the assertion has expired');
  if (/multiple assertions/i.test(message)) return malformed('the response holds more than one assertion');
  if (/signature|signed|reference uri|ref uri/i.test(message)) return new SamlError('signature', 'the response signature is not valid');
  return malformed('the response could not be processed');
}

interface ConfirmationResult {
  notOnOrAfterMs: number;
  inResponseTo: string | undefined;
}

/**
 * Checks one bearer SubjectConfirmation (SAML Profiles §4.1.4.2–3): Recipient, time window and,
 * when the caller holds a request id, InResponseTo.
 */
function checkBearerConfirmation(
  confirmation: XmlElement,
  expected: { acsUrl: string; requestId: string | undefined; responseInResponseTo: string | undefined; nowMs: number; skewMs: number },
): ConfirmationResult {
  const data = onlyChild(confirmation, NS.saml, 'SubjectConfirmationData');
  if (!data) throw malformed('the bearer confirmation has no SubjectConfirmationData');
  if (attribute(data, 'Recipient') !== expected.acsUrl) throw new SamlError('recipient', 'the assertion Recipient is not this ACS URL');
  const notOnOrAfterMs = timeAttribute(data, 'NotOnOrAfter');
  if (notOnOrAfterMs === undefined) throw malformed('the bearer confirmation has no NotOnOrAfter');
  if (expected.nowMs - expected.skewMs >= notOnOrAfterMs) throw new SamlError('expired', 'the assertion has expired');
  const notBeforeMs = timeAttribute(data, 'NotBefore');
  if (notBeforeMs !== undefined && expected.nowMs + expected.skewMs < notBeforeMs)
    throw new SamlError('not_yet_valid', 'the assertion is not yet valid');
  const inResponseTo = attribute(data, 'InResponseTo');
  if (expected.requestId !== undefined && inResponseTo !== expected.requestId) {
    throw new SamlError('in_response_to', 'the assertion does not answer the expected request');
  }
  if (inResponseTo !== undefined && expected.responseInResponseTo !== undefined && inResponseTo !== expected.responseInResponseTo) {
    throw new SamlError('in_response_to', 'the assertion and the response answer different requests');
  }
  return { notOnOrAfterMs, inResponseTo };
}

/**
 * Builds a SAML service provider for one IdP. Settings are validated once here (zod); throws an
 * Error naming the invalid fields (never their values) when they do not hold. The returned object
 * is stateless and safe to share between requests.
 */
export function createSamlLogin(settings: SamlSettings): SamlLogin {
  const parsed = settingsSchema.safeParse(settings);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new Error(`invalid SAML settings: ${fields}`, { cause: parsed.error });
  }
  const s = parsed.data;

  const config: SamlConfig = {
    entryPoint: s.entryPoint,
    issuer: s.spEntityId,
    audience: s.spEntityId,
    callbackUrl: s.acsUrl,
    // node-saml checks idpIssuer only on logout messages; the Response and Assertion Issuer are checked below.
    idpIssuer: s.idpEntityId,
    idpCert: s.idpCerts,
    wantAuthnResponseSigned: true,
    wantAssertionsSigned: true,
    acceptedClockSkewMs: s.clockSkewMs,
    maxAssertionAgeMs: s.maxAssertionAgeMs ?? 0,
    // node-saml's InResponseTo check relies on an in-process cache of issued ids, which does not
    // survive a restart or span replicas; the caller holds the id instead (expectedRequestId).
    validateInResponseTo: ValidateInResponseTo.never,
    identifierFormat: null,
    disableRequestedAuthnContext: true,
  };
  const saml = new SAML(config);

  return {
    async loginUrl(relayState) {
      if (Buffer.byteLength(relayState, 'utf8') > MAX_RELAY_STATE_BYTES)
        throw new RangeError(`relayState exceeds ${MAX_RELAY_STATE_BYTES} bytes`);
      // node-saml does not return the id of the request it builds; an instance per request with a
      // fixed id generator gets it without parsing our own URL back. Construction is cheap (no I/O).
      const requestId = newRequestId();
      const url = await new SAML({ ...config, generateUniqueId: () => requestId }).getAuthorizeUrlAsync(relayState, undefined, {});
      return { url, requestId };
    },

    async validate(samlResponseB64, expectedRequestId) {
      if (
        typeof samlResponseB64 !== 'string' ||
        samlResponseB64.length === 0 ||
        samlResponseB64.length > MAX_RESPONSE_B64 ||
        !/^[A-Za-z0-9+/=\s]+$/.test(samlResponseB64)
      ) {
        throw malformed('SAMLResponse is not base64 of an acceptable size');
      }
      const xml = Buffer.from(samlResponseB64, 'base64').toString('utf8');
      const response = parseXml(xml, 'SAMLResponse');
      if (response.namespaceURI !== NS.samlp || response.localName !== 'Response')
        throw malformed('SAMLResponse is not a SAML 2.0 Response');

      // Before node-saml, which reports a missing and a bad signature alike: tell them apart.
      if (childElements(response, NS.saml, 'EncryptedAssertion').length > 0) throw malformed('encrypted assertions are not supported');
      const rawAssertions = childElements(response, NS.saml, 'Assertion');
      if (rawAssertions.length !== 1) throw malformed('the response must hold exactly one assertion');
      if (childElements(response, NS.ds, 'Signature').length === 0) throw new SamlError('unsigned', 'the response is not signed');
      if (childElements(rawAssertions[0]!, NS.ds, 'Signature').length === 0) throw new SamlError('unsigned', 'the assertion is not signed');

      let profile: Profile | null;
      try {
        ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponseB64 }));
      } catch (err) {
        throw fromNodeSaml(err);
      }
      if (!profile) throw malformed('the response carries no assertion');

      const nowMs = Date.now();
      const skewMs = s.clockSkewMs;

      // Response-level checks read the document element as parsed here. That is what was signed:
      // node-saml (wantAuthnResponseSigned) has verified a signature that is a child of this very
      // element and whose reference resolves to it alone.
      if (issuerOf(response) !== s.idpEntityId) throw new SamlError('issuer', 'the response Issuer is not the configured IdP');
      const destination = attribute(response, 'Destination');
      if (destination !== undefined && destination !== s.acsUrl)
        throw new SamlError('destination', 'the response Destination is not this ACS URL');
      const status = onlyChild(response, NS.samlp, 'Status');
      const statusValue = status && onlyChild(status, NS.samlp, 'StatusCode')?.getAttribute('Value');
      if (statusValue !== STATUS_SUCCESS) throw new SamlError('status', 'the IdP returned a non-success status');
      const responseInResponseTo = attribute(response, 'InResponseTo');
      if (expectedRequestId !== undefined && responseInResponseTo !== expectedRequestId) {
        throw new SamlError('in_response_to', 'the response does not answer the expected request');
      }

      // Assertion-level checks read the bytes node-saml verified (and built the profile from).
      const assertionXml = profile.getAssertionXml?.();
      if (!assertionXml) throw malformed('the verified assertion is unavailable');
      const assertion = parseXml(assertionXml, 'assertion');
      if (assertion.namespaceURI !== NS.saml || assertion.localName !== 'Assertion')
        throw malformed('the signed element is not an Assertion');
      const assertionId = attribute(assertion, 'ID');
      if (!assertionId) throw malformed('the assertion has no ID');
      if (issuerOf(assertion) !== s.idpEntityId) throw new SamlError('issuer', 'the assertion Issuer is not the configured IdP');

      const subject = onlyChild(assertion, NS.saml, 'Subject');
      const bearers = subject
        ? childElements(subject, NS.saml, 'SubjectConfirmation').filter((c) => c.getAttribute('Method') === CM_BEARER)
        : [];
      if (bearers.length === 0) throw malformed('the assertion has no bearer subject confirmation');
      // One satisfied bearer confirmation suffices; if none is, report why the first one failed.
      let confirmed: ConfirmationResult | undefined;
      let firstFailure: unknown;
      for (const bearer of bearers) {
        try {
          confirmed = checkBearerConfirmation(bearer, {
            acsUrl: s.acsUrl,
            requestId: expectedRequestId,
            responseInResponseTo,
            nowMs,
            skewMs,
          });
          break;
        } catch (err) {
          firstFailure ??= err;
        }
      }
      if (!confirmed) throw firstFailure;

      // node-saml has checked Conditions' time window and audience; their end also bounds replay.
      const conditions = onlyChild(assertion, NS.saml, 'Conditions');
      if (!conditions) throw malformed('the assertion has no Conditions');
      const ends = [confirmed.notOnOrAfterMs];
      const conditionsEnd = timeAttribute(conditions, 'NotOnOrAfter');
      if (conditionsEnd !== undefined) ends.push(conditionsEnd);
      if (s.maxAssertionAgeMs !== undefined) {
        const issuedMs = timeAttribute(assertion, 'IssueInstant');
        if (issuedMs === undefined) throw malformed('the assertion has no IssueInstant');
        ends.push(issuedMs + s.maxAssertionAgeMs);
      }
      const validUntilMs = Math.min(...ends) + skewMs;
      if (nowMs >= validUntilMs) throw new SamlError('expired', 'the assertion has expired');

      if (typeof profile.nameID !== 'string' || profile.nameID.trim() === '') throw malformed('the assertion has no NameID');

      const identity: SamlIdentity = {
        issuer: s.idpEntityId,
        nameId: profile.nameID,
        assertionId,
        notOnOrAfter: new Date(validUntilMs),
      };
      const email = profileAttribute(profile, EMAIL_ATTRIBUTES);
      if (email) identity.email = email;
      const displayName = profileAttribute(profile, DISPLAY_NAME_ATTRIBUTES);
      if (displayName) identity.displayName = displayName;
      const inResponseTo = responseInResponseTo ?? confirmed.inResponseTo;
      if (inResponseTo) identity.inResponseTo = inResponseTo;
      return identity;
    },

    metadata() {
      return saml.generateServiceProviderMetadata(null, null);
    },
  };
}
