/**
 * Redaction: every secret value a run resolved, in every form it could take in text (as it is and
 * trimmed, line by line, URL-encoded in upper- and lower-case, JSON-escaped with `\/` and `\uXXXX`,
 * hex in either case, base64 and base64url at every alignment and wrapped into lines), and
 * well-known secret shapes (quoted keys included) are replaced before anything leaves the Runner,
 * in results and in errors.
 */
export const REDACTED = '[redacted]';

/** Well-known secret shapes; the replacement keeps the harmless prefix so the text still reads. */
const PATTERNS: [RegExp, string][] = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/\b(Bearer|Basic|Token|Negotiate)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${REDACTED}`],
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, REDACTED],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bglpat-[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\bsk_(?:live|test)_[A-Za-z0-9]{16,}/g, REDACTED],
  [/\blk_[A-Za-z0-9_-]{43}\b/g, REDACTED],
  // user:password@ in any URL or connection string
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${REDACTED}@`],
  // "client_secret": "…", "SecretAccessKey" : "…", 'password': '…' (quoted keys, as JSON and YAML write them)
  [
    /((["'])[^"'\n]{0,64}?(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key|token|credential)[^"'\n]{0,64}?\2\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/gi,
    `$1"${REDACTED}"`,
  ],
  // password=…, secret: …, api_key=…, aws_secret_access_key = …
  [
    /\b((?:[a-z_-]*(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key|token))\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,"']+)/gi,
    `$1${REDACTED}`,
  ],
];

const lowerPercent = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const jsonEscaped = (v: string) => JSON.stringify(v).slice(1, -1);
/** Every character as `\uXXXX`, in lower- and upper-case hex. */
const unicodeEscaped = (v: string) => {
  const lower = [...v].map((c) => [...c].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')).join('');
  return [lower, lower.replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\u${h.toUpperCase()}`)];
};
/** Base64 wrapped into lines, as MIME (76) and PEM (64) write it, with LF or CRLF. */
const wrapped = (b64: string) =>
  [76, 64].flatMap((width) =>
    b64.length > width ? ['\n', '\r\n'].map((eol) => b64.match(new RegExp(`.{1,${width}}`, 'g'))!.join(eol)) : [],
  );

/** The value and its trimmed forms: a header or a log line keeps the value without its surrounding whitespace. */
function plainForms(v: string): string[] {
  const forms = [v, v.trim(), v.replace(/\s+$/, ''), v.replace(/^\s+/, '')];
  // A multi-line value (a file mounted from a Secret) can leave one line at a time.
  if (/[\r\n]/.test(v)) forms.push(...v.split(/\r?\n/).filter((line) => line.trim().length >= 8));
  return forms.filter((f) => f.length >= 4);
}

/** Every form in which a secret value could appear in text, longest first. Values under 4 characters are skipped: they would redact ordinary words. */
export function secretForms(values: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const value of values) {
    if (value.length < 4) continue;
    for (const v of plainForms(value)) {
      const hex = Buffer.from(v).toString('hex');
      for (const f of [
        v,
        encodeURIComponent(v),
        lowerPercent(encodeURIComponent(v)),
        encodeURI(v),
        lowerPercent(encodeURI(v)),
        jsonEscaped(v),
        jsonEscaped(v).replace(/\//g, '\\/'),
        ...unicodeEscaped(v),
        hex,
        hex.toUpperCase(),
        ...wrapped(Buffer.from(v).toString('base64')),
      ]) {
        forms.add(f);
      }
      addBase64Forms(forms, v);
    }
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

function addBase64Forms(forms: Set<string>, v: string): void {
  // Base64 of the value inside a longer base64 text (Basic auth, a JSON blob) depends on where it
  // starts: for each of the three alignments, the characters that depend only on the value.
  const bytes = Buffer.from(v, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const shifted = Buffer.concat([Buffer.alloc(shift), bytes]);
    const skip = Math.ceil((shift * 4) / 3);
    for (const enc of ['base64', 'base64url'] as const) {
      const text = shifted.toString(enc);
      forms.add(shift === 0 ? text.replace(/=+$/, '') : text.slice(skip, text.length - 4));
      const core = text.slice(skip, text.length - 4);
      if (core.length >= 4) forms.add(core);
    }
  }
}

export function redactText(text: string, forms: readonly string[]): string {
  let out = text;
  for (const f of forms) out = out.split(f).join(REDACTED);
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Redacts every string (keys included) of a JSON-like value. */
export function redactDeep(value: unknown, forms: readonly string[]): unknown {
  if (typeof value === 'string') return redactText(value, forms);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, forms));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactText(k, forms), redactDeep(v, forms)]));
  }
  return value;
}
