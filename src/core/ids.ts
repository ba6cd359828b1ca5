import { randomFillSync } from 'node:crypto';
import { z } from '@hono/zod-openapi';

const random = Buffer.alloc(10);

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids sort by
 * creation time, which keeps B-tree inserts at the right edge and gives keyset pagination
 * a natural order.
 */
export function uuidv7(now = Date.now()): string {
  randomFillSync(random);
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(now, 0, 6);
  random.copy(bytes, 6);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Path parameters of a resource addressed by its id; anything but a UUID is a 422. */
export const IdParams = z.object({
  id: z.uuid().openapi({
    param: { name: 'id', in: 'path' },
    example: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  }),
});
