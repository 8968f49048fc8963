/**
 * The structured logger of every process. Known secret-bearing fields are redacted by path; code
 * must still never log a secret, a token or a payload.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password',
  'token',
  'secret',
  'authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'params',
  '*.params',
];

export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: name } });
}
