import { randomFillSync } from 'node:crypto';
import { z } from '@hono/zod-openapi';

// Random bytes drawn from the system 256 ids at a time, as `crypto.randomUUID` does: one
// `getrandom` call per id cost more than the rest of the id (a profile of the AI gateway, which
// makes one or two ids a call, put it at about 14 µs a request). Still the system's
// cryptographic source, so ids stay as hard to guess.
const RANDOM_BYTES_PER_ID = 10;
const pool = Buffer.alloc(RANDOM_BYTES_PER_ID * 256);
let poolOffset = pool.length;
let lastMillis = -1;
let sequence = 0;

/** The offset in `pool` of 10 random bytes no other id has used. */
function takeRandom(): number {
  if (poolOffset + RANDOM_BYTES_PER_ID > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += RANDOM_BYTES_PER_ID;
  return at;
}

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit sequence, then random
 * bits. Ids sort by creation time, which keeps B-tree inserts at the right edge and gives
 * keyset pagination a natural order; within one millisecond the sequence (which starts at
 * a random value and counts up, RFC 9562 method 3) keeps this process's ids in order too.
 */
export function uuidv7(now = Date.now()): string {
  const at = takeRandom();
  let millis = Math.max(now, lastMillis);
  if (millis === lastMillis) {
    sequence += 1;
    if (sequence > 0xfff) {
      millis += 1;
      sequence = pool.readUInt16BE(at) & 0x7ff;
    }
  } else {
    // Start low in the range, so a busy millisecond has room to count up.
    sequence = pool.readUInt16BE(at) & 0x7ff;
  }
  lastMillis = millis;
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(millis, 0, 6);
  bytes.writeUInt16BE(0x7000 | sequence, 6);
  pool.copy(bytes, 8, at + 2, at + RANDOM_BYTES_PER_ID);
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
