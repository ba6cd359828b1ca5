import { hc } from 'hono/client';
import type { AppType } from './app.ts';

export type { AppType };

/**
 * A typed client for this API, for TypeScript consumers: every route, its input and its
 * output are checked by the compiler, from the same definitions the server validates with.
 *
 * @example
 * const api = createClient('http://127.0.0.1:3000', { headers: { 'x-api-key': key } });
 * // `header: {}`: the operation documents optional headers (Idempotency-Key).
 * const res = await api.v1.items.$post({ json: { name: 'Can', price: '24.50' }, header: {} });
 * if (res.status === 201) console.log((await res.json()).id);
 */
export function createClient(baseUrl: string, options?: Parameters<typeof hc>[1]) {
  return hc<AppType>(baseUrl, options);
}

export type Client = ReturnType<typeof createClient>;
