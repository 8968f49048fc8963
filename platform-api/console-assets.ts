/**
 * Serves the web console (built by scripts/build-console.ts into dist/console) from the API's own
 * origin: `/` is the page, `/console/app.js` and `/console/app.css` its only script and stylesheet.
 * The files are read once, at start; each answer carries an ETag and `no-cache` (revalidated, so a
 * new build is picked up by the next load) and the same strict Content-Security-Policy as every other
 * answer of the API (CONSOLE_CSP). No session is needed to load the files: they hold no data, and
 * the data comes from the API with the session cookie.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Router, type Request, type Response } from 'express';
import { ApiError } from '../common/problem';

/**
 * The Content-Security-Policy of every answer (console and API alike): nothing but the API's own
 * script, style, images and requests; no inline script or style, no eval, no plugin, no framing, no
 * base-URI rewriting; forms only to the API itself.
 */
export const CONSOLE_CSP = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'manifest-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'object-src': ["'none'"],
} as const;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/console/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** dist/console, found from the package root (this file runs from dist/ in production and from source under jest). */
export function defaultConsoleDir(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist', 'console');
}

function load(dir: string): Map<string, Asset> | undefined {
  const assets = new Map<string, Asset>();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const full = path.join(dir, file);
    if (!existsSync(full)) return undefined;
    const body = readFileSync(full);
    assets.set(route, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return assets;
}

/**
 * The console's routes (GET and HEAD only). Without a build (`npm run build` not run), `/` answers
 * 503 with a problem saying so, and the API works as before.
 */
export function consoleAssets(dir: string = defaultConsoleDir()): Router {
  const assets = load(dir);
  const router = Router();
  const serve = (req: Request, res: Response) => {
    if (!assets) throw new ApiError(503, 'Service Unavailable', 'the web console is not built: run `npm run build`');
    const asset = assets.get(req.path)!;
    res.setHeader('Content-Type', asset.type);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', asset.etag);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (req.get('if-none-match') === asset.etag) return void res.status(304).end();
    res.status(200).send(req.method === 'HEAD' ? undefined : asset.body);
  };
  for (const route of Object.keys(FILES)) router.get(route, serve);
  // Browsers ask for it unprompted; an empty answer keeps their consoles free of 404s.
  router.get('/favicon.ico', (_req, res) => void res.status(204).setHeader('Cache-Control', 'max-age=86400').end());
  return router;
}
