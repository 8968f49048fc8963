/**
 * Domain errors and the one middleware that turns them into RFC 9457 problem bodies. Handlers throw;
 * they never build error responses. Only unexpected errors (5xx) are logged, with their stack, and
 * their details never reach the client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from './logger';
import type { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class InputError extends ApiError {
  constructor(message: string, errors: { path: string; message: string }[] = []) {
    super(400, 'Invalid request', message, errors.length ? { errors } : {});
  }
  static fromZod(what: string, error: z.ZodError): InputError {
    return new InputError(
      `invalid ${what}`,
      error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    );
  }
}

export class AuthenticationError extends ApiError {
  constructor(message = 'authentication required') {
    super(401, 'Unauthorized', message);
  }
}

export class ForbiddenError extends ApiError {
  constructor(message = 'not allowed') {
    super(403, 'Forbidden', message);
  }
}

export class NotFoundError extends ApiError {
  constructor(what = 'resource') {
    super(404, 'Not Found', `${what} not found`);
  }
}

export class ConflictError extends ApiError {
  constructor(message: string) {
    super(409, 'Conflict', message);
  }
}

export class UnavailableError extends ApiError {
  constructor(message: string) {
    super(503, 'Service Unavailable', message);
  }
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'Not Found', `no route for ${req.method} ${req.path}`));
};

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let problem: ApiError;
    if (err instanceof ApiError) {
      problem = err;
    } else if (isBodyParserError(err)) {
      problem = new ApiError(err.status, err.status === 413 ? 'Payload Too Large' : 'Invalid request', bodyParserMessage(err));
    } else if (isBackingServiceDown(err)) {
      // The database restarting or unreachable: the client may repeat the request (503, not 500).
      logger.warn({ code: (err as { code?: unknown }).code, method: req.method, path: req.path }, 'backing service unavailable');
      problem = new UnavailableError('a service the API depends on is unavailable; try again shortly');
    } else if (isClientHttpError(err)) {
      // The router's own 4xx (e.g. a path with broken percent-encoding): the client's mistake.
      problem = new ApiError(err.status, 'Invalid request', err.status === 400 ? 'malformed request URL' : 'invalid request');
    } else {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      problem = new ApiError(500, 'Internal Server Error', 'an unexpected error occurred');
    }
    if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    res
      .status(problem.status)
      .type('application/problem+json')
      .json({
        type: 'about:blank',
        title: problem.title,
        status: problem.status,
        detail: problem.message,
        instance: req.originalUrl,
        ...problem.extra,
      });
  };
}

function isBodyParserError(err: unknown): err is { status: number; type: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    'type' in err &&
    'status' in err &&
    typeof (err as { status: unknown }).status === 'number' &&
    (err as { status: number }).status < 500
  );
}

/**
 * Connection-level failures of the database (SQLSTATE class 08, server shutting down or starting
 * up, too many connections) and refused or reset sockets. Not query errors: those stay 500.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300']);
const PG_CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

function isBackingServiceDown(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  return err instanceof Error && PG_CONNECTION_LOST.test(err.message);
}

function isClientHttpError(err: unknown): err is { status: number } {
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown; expose?: unknown }).status : undefined;
  // http-errors mark theirs `expose`; the router's parameter decoding error is a URIError with status 400.
  return (
    typeof status === 'number' &&
    status >= 400 &&
    status < 500 &&
    ((err as { expose?: unknown }).expose === true || err instanceof URIError)
  );
}

function bodyParserMessage(err: { type: string }): string {
  switch (err.type) {
    case 'entity.parse.failed':
      return 'request body is not valid JSON';
    case 'entity.too.large':
      return 'request body is too large';
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return 'unsupported request body encoding';
    default:
      return 'malformed request body';
  }
}
