/**
 * Redaction as a property: for any secret value, in any of the encodings a response, a log line or
 * a library error could carry it, at any position in any surrounding text, what leaves the Runner
 * holds neither the encoded form nor the value. Plus the quoted-key shapes of JSON and YAML.
 */
import fc from 'fast-check';
import { redactText, secretForms } from '../activities/runner/redaction';

const lowerPercent = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const wrap = (s: string, width: number, eol: string) => s.match(new RegExp(`.{1,${width}}`, 'gs'))?.join(eol) ?? s;

/** How a value may appear in text that leaves: each is a way some real component writes it. */
const ENCODINGS: Record<string, (v: string) => string> = {
  plain: (v) => v,
  trimmed: (v) => v.trim(),
  'percent (upper)': (v) => encodeURIComponent(v),
  'percent (lower)': (v) => lowerPercent(encodeURIComponent(v)),
  'encodeURI (lower)': (v) => lowerPercent(encodeURI(v)),
  json: (v) => JSON.stringify(v).slice(1, -1),
  'json with \\/': (v) => JSON.stringify(v).slice(1, -1).replace(/\//g, '\\/'),
  'json \\uXXXX': (v) => [...v].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
  'json \\uXXXX (upper)': (v) => [...v].map((c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`).join(''),
  hex: (v) => Buffer.from(v).toString('hex'),
  'hex (upper)': (v) => Buffer.from(v).toString('hex').toUpperCase(),
  base64: (v) => Buffer.from(v).toString('base64'),
  base64url: (v) => Buffer.from(v).toString('base64url'),
  'base64 wrapped at 76 (LF)': (v) => wrap(Buffer.from(v).toString('base64'), 76, '\n'),
  'base64 wrapped at 64 (CRLF)': (v) => wrap(Buffer.from(v).toString('base64'), 64, '\r\n'),
};

/** Secret values: printable text, possibly with inner and trailing newlines, as Secrets made from files hold them. */
const secretValue = fc
  .tuple(
    fc.string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.:~!@$%^&*'.split('')),
      minLength: 12,
      maxLength: 48,
    }),
    fc.option(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), minLength: 8, maxLength: 24 })),
    fc.constantFrom('', '\n', '\r\n', ' \n', '\n\n'),
  )
  .map(([head, second, tail]) => `${head}${second === null ? '' : `\n${second}`}${tail}`);

/** Text around the secret: ASCII words, punctuation, newlines; never the secret's own characters only. */
const surrounding = fc.string({ unit: fc.constantFrom(...' \n\t{}[]":,=;/#abcdefgh ijklmnop'.split('')), maxLength: 80 });

describe('redaction (property)', () => {
  it.each(Object.keys(ENCODINGS))('never lets a secret out in its %s form, wherever it stands in the text', (name) => {
    const encode = ENCODINGS[name]!;
    fc.assert(
      fc.property(secretValue, surrounding, surrounding, (secret, before, after) => {
        const encoded = encode(secret);
        const out = redactText(`${before}${encoded}${after}`, secretForms([secret]));
        expect(out).not.toContain(encoded);
        expect(out).not.toContain(secret);
        if (secret.trim().length >= 4) expect(out).not.toContain(secret.trim());
      }),
      { numRuns: 300 },
    );
  });

  it('redacts each line of a multi-line secret when the lines leave apart', () => {
    fc.assert(
      fc.property(
        secretValue.filter((s) => s.trim().includes('\n')),
        (secret) => {
          const lines = secret.split(/\r?\n/).filter((l) => l.trim().length >= 8);
          const out = redactText(lines.map((l) => `line: ${l}`).join(' | '), secretForms([secret]));
          for (const line of lines) expect(out).not.toContain(line);
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['{"SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['{"client_secret":"s3cr3t-client-value"}', 's3cr3t-client-value'],
    ["{'password': 'hunter2hunter2'}", 'hunter2hunter2'],
    ['{"AccessKeyId":"ASIAXXXX","Token":"FwoGZXIvYXdzEJr//////////wEaDHf"}', 'FwoGZXIvYXdzEJr//////////wEaDHf'],
    ['"api_key": "abc\\"def-ghi"', 'abc\\"def-ghi'],
  ])('redacts values of quoted secret keys: %s', (text, value) => {
    expect(redactText(text, [])).not.toContain(value);
  });
});
