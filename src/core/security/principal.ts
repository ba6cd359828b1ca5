import type { Role, Scope } from './scopes.ts';

/** Who is calling, as established by a verified credential. */
export interface Principal {
  userId: string;
  role: Role;
  /** What this credential may do: its own scopes, within what the user's role allows now. */
  scopes: ReadonlySet<Scope>;
  via: 'token' | 'api_key';
  /** The access token's `jti` or the API key's id. */
  credentialId: string;
  /** The login session an access token belongs to (absent for API keys). */
  sessionId?: string;
}

export interface Credentials {
  /** The `Authorization` header, if any. */
  authorization: string | undefined;
  /** The `X-API-Key` header, if any. */
  apiKey: string | undefined;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'revoked' | 'inactive' };

/** What changed about credentials, so no process keeps trusting what it cached. */
export type CredentialChange =
  /** The account's role or status, or all its sessions (password change, deactivation). */
  | { userId: string }
  | { apiKeyId: string }
  /** One login session ended (logout, a replayed refresh token). */
  | { sessionId: string };

/** Turns request credentials into a principal. Built by `createDeps`; tests swap it freely. */
export interface Authenticator {
  /**
   * A credential whose checks are all cached is answered as it is, not in a promise: an
   * `await` of what is known costs a turn of the microtask queue on every request
   * (decision 088).
   */
  authenticate(credentials: Credentials): AuthResult | Promise<AuthResult>;
  /**
   * Call after changing what `change` names: this process stops trusting its cached copy
   * at once, every other API process within moments (through Redis when there is one).
   */
  forget(change: CredentialChange): Promise<void>;
}

/**
 * An authenticator that accepts any request as `principal`, for tests that act as someone.
 *
 * @example
 * const app = createApp({ ...deps, auth: actAs({ userId, role: 'user', scopes: new Set(['items:read']), via: 'token', credentialId: 't' }) });
 */
export function actAs(principal: Principal): Authenticator {
  return { authenticate: async () => ({ ok: true, principal }), forget: async () => {} };
}
