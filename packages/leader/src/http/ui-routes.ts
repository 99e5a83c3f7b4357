// Serves the phone control page (src/http/web-ui: static HTML, CSS, JS modules; no build step) at
// `/` and `/ui/<file>`. Files are read once at registration from the package's source tree (tsc
// does not copy them to dist) and served from memory with an ETag, no-cache and a strict CSP.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Only these extensions are served, with these types (anything else in the folder is ignored). */
export const UI_CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Plain names only: no dots but the extension, no slashes, so no path can leave the folder. */
const FILE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}\.(html|js|css|svg)$/;
/** The page is tiny; a file over this is a mistake, not something to serve. */
const MAX_FILE_BYTES = 256 * 1024;
/** Everything the page needs comes from the leader itself: no CDN, no inline script or style. */
export const UI_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob:", "connect-src 'self'",
  "manifest-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface UiFile { body: Buffer; type: string; etag: string }

export interface UiRoutesOptions {
  /** Folder holding index.html and its assets (default: the package's src/http/web-ui). */
  dir?: string;
}

/**
 * The web-ui folder: next to this module when run from src (tsx), or `src/http/web-ui` of the
 * package root when run from `dist/src/http`.
 */
export function defaultWebUiDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'web-ui'), path.resolve(here, '..', '..', '..', 'src', 'http', 'web-ui')];
  return candidates.find((d) => existsSync(path.join(d, 'index.html'))) ?? candidates[1]!;
}

/** Reads every servable file of `dir` into memory (throws when index.html is missing). */
export function loadUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  for (const name of readdirSync(dir)) {
    if (!FILE_NAME_RE.test(name)) continue;
    const body = readFileSync(path.join(dir, name));
    if (body.length > MAX_FILE_BYTES) continue;
    const type = UI_CONTENT_TYPES[path.extname(name)];
    if (type === undefined) continue;
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(name, { body, type, etag });
  }
  if (!files.has('index.html')) throw new Error(`web UI: no index.html in ${dir}`);
  return files;
}

/**
 * Registers `GET /` (index.html) and `GET /ui/:file`. Routes carry `config.public = true` so an
 * auth hook can let the page load and ask for the key (it holds no data itself).
 */
export function registerUiRoutes(app: FastifyInstance, options: UiRoutesOptions = {}): void {
  const files = loadUiFiles(options.dir ?? defaultWebUiDir());
  const send = (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
    const f = files.get(name);
    if (!f) return undefined;
    void reply
      .header('cache-control', 'no-cache')
      .header('etag', f.etag)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');
    if (name.endsWith('.html')) void reply.header('content-security-policy', UI_CSP);
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim() === f.etag)) {
      return reply.code(304).send();
    }
    return reply.type(f.type).send(f.body);
  };
  const config = { public: true };
  app.get('/', { config }, async (request, reply) => send('index.html', request.headers['if-none-match'], reply));
  app.get<{ Params: { file: string } }>('/ui/:file', { config }, async (request, reply) => {
    const name = request.params.file;
    const out = FILE_NAME_RE.test(name) ? send(name, request.headers['if-none-match'], reply) : undefined;
    if (out === undefined) {
      reply.callNotFound();
      return reply;
    }
    return out;
  });
}
