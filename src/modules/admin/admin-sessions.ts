import { hash, randomBytes } from 'node:crypto';
import type { Redis } from '../../core/redis.ts';

/**
 * Sessions of the admin pages, held by the server: the browser's cookie is a random id that
 * means nothing elsewhere (no bearer token the API would take), and signing out deletes the
 * session, so a copy of the cookie is worthless from that moment on.
 */
export interface AdminSessions {
  /** Starts a session for `userId`; returns its id, for the cookie. */
  start(userId: string): Promise<string>;
  /** The user of a live session, or undefined when it ended, expired, or never was. */
  userOf(sessionId: string): Promise<string | undefined>;
  end(sessionId: string): Promise<void>;
}

/** Stored under a hash of the id: what is stored cannot be replayed as a cookie. */
const storedKey = (sessionId: string) => `admin:sessions:${hash('sha256', sessionId, 'base64url')}`;

const newSessionId = () => randomBytes(32).toString('base64url');

/** Shared by every API process through Redis; each session expires after `ttlSeconds`. */
export function redisAdminSessions(redis: Redis, ttlSeconds: number): AdminSessions {
  return {
    async start(userId) {
      const sessionId = newSessionId();
      await redis.set(storedKey(sessionId), userId, 'EX', ttlSeconds);
      return sessionId;
    },
    async userOf(sessionId) {
      return (await redis.get(storedKey(sessionId))) ?? undefined;
    },
    async end(sessionId) {
      await redis.del(storedKey(sessionId));
    },
  };
}

/** The same in process memory, for development without Redis (one process). */
export function memoryAdminSessions(
  ttlSeconds: number,
  now: () => number = Date.now,
): AdminSessions {
  const sessions = new Map<string, { userId: string; expiresAt: number }>();
  return {
    async start(userId) {
      for (const [key, session] of sessions) if (session.expiresAt <= now()) sessions.delete(key);
      const sessionId = newSessionId();
      sessions.set(storedKey(sessionId), { userId, expiresAt: now() + ttlSeconds * 1000 });
      return sessionId;
    },
    async userOf(sessionId) {
      const session = sessions.get(storedKey(sessionId));
      return session && session.expiresAt > now() ? session.userId : undefined;
    },
    async end(sessionId) {
      sessions.delete(storedKey(sessionId));
    },
  };
}
