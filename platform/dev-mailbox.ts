/**
 * A real SMTP server in-process for the quick start and the tests (`smtp-server`): it accepts mail
 * on a loopback port, keeps every message (parsed with `mailparser`), and, given a directory,
 * writes each one there as an `.eml` file for a person to open. Not for production: it accepts
 * mail for any address from anyone who reaches the port.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  receivedAt: Date;
}

export class DevMailbox {
  private readonly received: ReceivedMail[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly server: SMTPServer,
    readonly url: string,
  ) {}

  /** Listens on 127.0.0.1 (port 0: any free one); `dir`: where to write each message as .eml. */
  static async start(options: { port?: number; dir?: string; onMail?: (mail: ReceivedMail) => void } = {}): Promise<DevMailbox> {
    if (options.dir) mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    // The server delivers into the mailbox made once it listens (it needs the port for its URL).
    const ref: { box?: DevMailbox } = {};
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      banner: 'Lookout development mailbox',
      size: 1_048_576,
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', callback);
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw).then(
            (parsed) => {
              const mail: ReceivedMail = {
                to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                subject: parsed.subject ?? '',
                text: parsed.text ?? '',
                receivedAt: new Date(),
              };
              if (options.dir) {
                const name = `${mail.receivedAt.toISOString().replace(/[:.]/g, '-')}-${mail.to[0]?.replace(/[^a-z0-9@._-]/g, '_') ?? 'mail'}.eml`;
                writeFileSync(path.join(options.dir, name), raw, { mode: 0o600 });
              }
              ref.box!.deliver(mail);
              options.onMail?.(mail);
              callback();
            },
            (err: Error) => callback(err),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = server.server.address() as AddressInfo;
    ref.box = new DevMailbox(server, `smtp://127.0.0.1:${port}`);
    return ref.box;
  }

  private deliver(mail: ReceivedMail): void {
    this.received.push(mail);
    for (const wake of this.waiters) wake();
  }

  /** Every message received so far, oldest first. */
  messages(): ReceivedMail[] {
    return [...this.received];
  }

  /** The messages to `address`, oldest first. */
  to(address: string): ReceivedMail[] {
    return this.received.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Waits for a message to `address` (received after `since`, default any) matching `match`. */
  async waitFor(address: string, { since = 0, match = () => true, timeoutMs = 10_000 }: WaitOptions = {}): Promise<ReceivedMail> {
    const find = () => this.to(address).find((m) => m.receivedAt.getTime() >= since && match(m));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no mail to ${address} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface WaitOptions {
  since?: number;
  match?: (mail: ReceivedMail) => boolean;
  timeoutMs?: number;
}
