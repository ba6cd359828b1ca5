import type { Deps } from '../../core/deps.ts';
import { NotFoundError } from '../../core/domain-errors.ts';
import { IdParams } from '../../core/ids.ts';
import { keysetPages, PageQuery } from '../../core/pagination.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { revokeAllSessions } from '../auth/auth.service.ts';
import {
  UserAdminUpdate,
  UserPage,
  UserPosition,
  UserPublic,
  UserUpdateMe,
} from './users.schemas.ts';
import {
  changeOwnAccount,
  findUserById,
  listUsers,
  toPublicUser,
  updateUser,
} from './users.service.ts';

export const getMe = defineRoute({
  method: 'get',
  path: '/v1/users/me',
  operationId: 'getMe',
  summary: 'Your account',
  description: 'The account of the caller, whoever the credentials belong to.',
  tags: ['users'],
  auth: { scopes: [] },
  responses: { 200: jsonResponse(UserPublic, 'Your account') },
});

export const updateMe = defineRoute({
  method: 'patch',
  path: '/v1/users/me',
  operationId: 'updateMe',
  summary: 'Change your name, email or password',
  description: 'Changing the password needs `currentPassword`, and ends every other session.',
  tags: ['users'],
  auth: { scopes: [] },
  request: { body: { content: { 'application/json': { schema: UserUpdateMe } }, required: true } },
  responses: { 200: jsonResponse(UserPublic, 'Your updated account'), ...problemResponses(409) },
});

export const listUsersRoute = defineRoute({
  method: 'get',
  path: '/v1/users',
  operationId: 'listUsers',
  summary: 'List users (admin)',
  description:
    'Every account, oldest first, a page at a time (keyset pagination: pass `nextCursor` as `cursor`).',
  tags: ['users'],
  auth: { scopes: ['admin'] },
  request: { query: PageQuery },
  responses: { 200: jsonResponse(UserPage, 'A page of users, oldest first') },
});

export const getUser = defineRoute({
  method: 'get',
  path: '/v1/users/{id}',
  operationId: 'getUser',
  summary: 'Get a user (admin)',
  description: 'One account by id; 404 when there is none.',
  tags: ['users'],
  auth: { scopes: ['admin'] },
  request: { params: IdParams },
  responses: { 200: jsonResponse(UserPublic, 'The user'), ...problemResponses(404) },
});

export const updateUserRoute = defineRoute({
  method: 'patch',
  path: '/v1/users/{id}',
  operationId: 'updateUser',
  summary: 'Change a user’s name, role or active flag (admin)',
  description:
    'Deactivating a user ends their sessions; their tokens and keys stop working within seconds.',
  tags: ['users'],
  auth: { scopes: ['admin'] },
  request: {
    params: IdParams,
    body: { content: { 'application/json': { schema: UserAdminUpdate } }, required: true },
  },
  responses: { 200: jsonResponse(UserPublic, 'The updated user'), ...problemResponses(404) },
});

/** The caller's own account, and user administration. */
export function userRoutes(deps: Deps) {
  const pages = keysetPages(deps.settings.JWT_SECRET);
  return createRouter()
    .openapi(getMe, async (c) => {
      const user = await findUserById(deps.db, c.get('principal').userId);
      if (!user) throw new NotFoundError('user');
      return sendJson(c, UserPublic, toPublicUser(user), 200);
    })
    .openapi(updateMe, async (c) => {
      const { userId, sessionId } = c.get('principal');
      const changes = c.req.valid('json');
      const updated = await changeOwnAccount(deps.db, userId, changes);
      if (changes.password !== undefined) {
        await revokeAllSessions(deps.db, userId, deps.clock.now(), sessionId);
        await deps.auth.forget({ userId });
      }
      return sendJson(c, UserPublic, toPublicUser(updated), 200);
    })
    .openapi(listUsersRoute, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const after = pages.start(cursor, 'users', UserPosition);
      const rows = await listUsers(deps.db, { limit: limit + 1, afterId: after?.id });
      const { data, nextCursor } = pages.page(rows, limit, 'users', (user) => ({ id: user.id }));
      return sendJson(c, UserPage, { data: data.map(toPublicUser), nextCursor }, 200);
    })
    .openapi(getUser, async (c) => {
      const user = await findUserById(deps.db, c.req.valid('param').id);
      if (!user) throw new NotFoundError('user');
      return sendJson(c, UserPublic, toPublicUser(user), 200);
    })
    .openapi(updateUserRoute, async (c) => {
      const { id } = c.req.valid('param');
      const changes = c.req.valid('json');
      const updated = await updateUser(deps.db, id, changes);
      if (changes.isActive === false) await revokeAllSessions(deps.db, id, deps.clock.now());
      // Role or status may have changed: every process must read them again.
      await deps.auth.forget({ userId: id });
      return sendJson(c, UserPublic, toPublicUser(updated), 200);
    });
}
