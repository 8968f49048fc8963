/**
 * Mail the Platform sends (invitations), through SMTP with nodemailer. `LOOKOUT_SMTP_URL`:
 * `smtps://` (TLS from the first byte) or `smtp://` (STARTTLS required, except to a loopback
 * host, where an in-process development server listens); TLS 1.2+ with AEAD suites either way.
 * The URL may carry credentials: it is never logged, and a send error is reported without it.
 */
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import ipaddr from 'ipaddr.js';
import { AEAD_CIPHERS } from '../common/tls';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export class MailError extends Error {
  constructor(readonly reason: string) {
    super(`could not send mail: ${reason}`);
    this.name = 'MailError';
  }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  try {
    return ipaddr.process(host.replace(/^\[|\]$/g, '')).range() === 'loopback';
  } catch {
    return false;
  }
}

export function createSmtpMailer(options: { url: string; from: string; caPem?: string | undefined }): Mailer {
  const url = new URL(options.url);
  const implicitTls = url.protocol === 'smtps:';
  const transporter: Transporter = nodemailer.createTransport({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (implicitTls ? 465 : 587)),
    secure: implicitTls,
    requireTLS: !implicitTls && !isLoopback(url.hostname),
    ignoreTLS: !implicitTls && isLoopback(url.hostname),
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    tls: { minVersion: 'TLSv1.2', ciphers: AEAD_CIPHERS, ...(options.caPem ? { ca: options.caPem } : {}) },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(mail) {
      try {
        await transporter.sendMail({ from: options.from, to: mail.to, subject: mail.subject, text: mail.text });
      } catch (err) {
        // nodemailer's messages name the server's answer; its `code` is enough and holds no secret.
        const e = err as { code?: string; responseCode?: number };
        throw new MailError(e.responseCode ? `the SMTP server answered ${e.responseCode}` : (e.code ?? 'SMTP failure'));
      }
    },
    close: () => transporter.close(),
  };
}

/** The mailer LOOKOUT_SMTP_URL, LOOKOUT_SMTP_FROM and LOOKOUT_SMTP_CA_FILE describe; undefined without a URL. */
export function smtpMailerFromConfig(config: {
  LOOKOUT_SMTP_URL?: string | undefined;
  LOOKOUT_SMTP_FROM: string;
  LOOKOUT_SMTP_CA_FILE?: string | undefined;
}): Mailer | undefined {
  if (!config.LOOKOUT_SMTP_URL) return undefined;
  return createSmtpMailer({
    url: config.LOOKOUT_SMTP_URL,
    from: config.LOOKOUT_SMTP_FROM,
    caPem: config.LOOKOUT_SMTP_CA_FILE ? readFileSync(config.LOOKOUT_SMTP_CA_FILE, 'utf8') : undefined,
  });
}
