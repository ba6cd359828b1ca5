import type { Context } from 'hono';
import { nodeBindingsOf, requestHeader } from './node-response.ts';

/**
 * The client's address. With `trustedHops` proxies in front, it is the address the
 * outermost trusted proxy saw, read from the right of `X-Forwarded-For`: entries further
 * left were written by the client and prove nothing.
 */
export function clientAddress(c: Context, trustedHops: number): string {
  const peer = nodeBindingsOf(c)?.incoming?.socket?.remoteAddress ?? 'unknown';
  if (trustedHops === 0) return peer;
  const forwarded = (requestHeader(c, 'x-forwarded-for') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  return forwarded[forwarded.length - trustedHops] ?? forwarded[0] ?? peer;
}
