import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../../core/app-env.ts';
import type { Deps } from '../../core/deps.ts';
import { pagePolicy } from '../../core/security-headers.ts';

/** The page's files, beside this one: real HTML, JavaScript and CSS an editor can check. */
const ASSET_DIR = join(import.meta.dirname, 'chat-page');

/**
 * Scripts, styles and requests from this origin only, and no inline code at all: the page's
 * script and stylesheet are files of their own, so there is nothing to allow by hash or nonce.
 */
const PAGE_POLICY = pagePolicy();

interface Asset {
  body: string;
  etag: string;
}

/** Each file read once per process, however many apps serve it (tests build many). */
const assets = new Map<string, Promise<Asset>>();

async function loadAsset(file: string): Promise<Asset> {
  const body = await readFile(join(ASSET_DIR, file), 'utf8');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
  return { body, etag };
}

function assetAt(file: string): Promise<Asset> {
  let asset = assets.get(file);
  if (asset === undefined) {
    // A failed read is not kept: the next request tries again.
    asset = loadAsset(file).catch((error: unknown) => {
      assets.delete(file);
      throw error;
    });
    assets.set(file, asset);
  }
  return asset;
}

/** The three files of the page, by path, with their content types. */
const ROUTES = [
  { path: '/ai/chat', file: 'chat.html', type: 'text/html; charset=utf-8' },
  { path: '/ai/chat.js', file: 'chat.js', type: 'text/javascript; charset=utf-8' },
  { path: '/ai/chat.css', file: 'chat.css', type: 'text/css; charset=utf-8' },
] as const;

/**
 * `/ai/chat`: a small page to talk to the gateway's models from a browser. The user pastes
 * an API key with the `ai:chat` scope (kept in the tab's sessionStorage), picks a model from
 * `GET /v1/models`, and chats; each message posts the whole conversation to
 * `POST /v1/chat/completions` with `stream: true` and the answer is rendered as it streams,
 * with its token usage, a Stop button, and errors in plain words.
 *
 * The page is three static files (`chat-page/`), served under a policy that allows this
 * origin alone; nothing is fetched from elsewhere, so it works offline. They are revalidated
 * on every load (`no-cache` with an ETag), so a deploy never pairs a new page with an old
 * script. No deps are needed: the page is public, the API it calls checks the key.
 */
export function chatPage(_deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const route of ROUTES) {
    app.get(route.path, async (c) => {
      const { body, etag } = await assetAt(route.file);
      c.header('cache-control', 'no-cache');
      c.header('etag', etag);
      if (route.file === 'chat.html') c.header('content-security-policy', PAGE_POLICY);
      if (c.req.header('if-none-match') === etag) return c.body(null, 304);
      c.header('content-type', route.type);
      return c.body(body);
    });
  }
  return app;
}
