/** The byte strings under which a value (a canary, a token) could appear: plain, hex, URL-encoded, and base64/base64url at every alignment. */
export function needles(value: string): Buffer[] {
  const raw = Buffer.from(value, 'utf8');
  const out = [raw, Buffer.from(raw.toString('hex')), Buffer.from(encodeURIComponent(value))];
  for (let shift = 0; shift < 3; shift++) {
    const shifted = Buffer.concat([Buffer.alloc(shift), raw]);
    const skip = Math.ceil((shift * 4) / 3);
    for (const enc of ['base64', 'base64url'] as const) {
      const text = shifted.toString(enc);
      out.push(Buffer.from(text.slice(skip, text.length - 4)));
    }
  }
  return out;
}
