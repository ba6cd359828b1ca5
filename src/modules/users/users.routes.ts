import { z } from '@hono/zod-openapi';
import { IdParams } from '../../core/ids.ts';
import { cursorCodec, PageQuery } from '../../core/pagination.ts';
import { ProblemError } from '../../core/problem.ts';
import { sendJson } from '../../core/response.ts';
import { defineRoute, jsonResponse, problemResponses } from '../../core/route.ts';
import { createRouter } from '../../core/router.ts';
import { verifyPassword } from '../../core/security/passwords.ts';
import type { Deps } from '../../deps.ts';
import { revokeAllSessions } from '../auth/auth.service.ts';
import { UserAdminUpdate, UserPage, UserPublic, UserUpdateMe } from './users.schemas.ts';
import { findUserById, listUsers, toPublicUser, updateUser } from './users.service.ts';

export const getMe = defineRoute({
  method: 'get',
  path: '/v1/users/me',
  operationId: 'getMe',
  summary: 'Your account',
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

const UserCursor = z.object({ id: z.uuid() });

function notFound(): ProblemError {
  return new ProblemError(404, { detail: 'No such user' });
}

/** The caller's own account, and user administration. */
export function userRoutes(deps: Deps) {
  const cursors = cursorCodec(deps.settings.JWT_SECRET);
  return createRouter()
    .openapi(getMe, async (c) => {
      const user = await findUserById(deps.db, c.get('principal').userId);
      if (!user) throw notFound();
      return sendJson(c, UserPublic, toPublicUser(user), 200);
    })
    .openapi(updateMe, async (c) => {
      const { userId } = c.get('principal');
      const { currentPassword, ...changes } = c.req.valid('json');
      const user = await findUserById(deps.db, userId);
      if (!user) throw notFound();
      if (
        changes.password !== undefined &&
        !(await verifyPassword(currentPassword ?? '', user.passwordHash))
      ) {
        throw new ProblemError(422, {
          detail: 'The current password is not correct',
          extensions: {
            errors: [
              {
                location: 'body',
                path: 'currentPassword',
                message: 'is not correct',
                code: 'incorrect',
              },
            ],
          },
        });
      }
      const updated = await updateUser(deps.db, userId, changes);
      if (!updated) throw notFound();
      if (changes.password !== undefined)
        await revokeAllSessions(deps.db, userId, deps.clock.now());
      return sendJson(c, UserPublic, toPublicUser(updated), 200);
    })
    .openapi(listUsersRoute, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const after = cursor ? cursors.decode(cursor, UserCursor).id : undefined;
      const rows = await listUsers(deps.db, { limit: limit + 1, afterId: after });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const nextCursor = rows.length > limit && last ? cursors.encode({ id: last.id }) : null;
      return sendJson(c, UserPage, { data: page.map(toPublicUser), nextCursor }, 200);
    })
    .openapi(getUser, async (c) => {
      const user = await findUserById(deps.db, c.req.valid('param').id);
      if (!user) throw notFound();
      return sendJson(c, UserPublic, toPublicUser(user), 200);
    })
    .openapi(updateUserRoute, async (c) => {
      const { id } = c.req.valid('param');
      const changes = c.req.valid('json');
      const updated = await updateUser(deps.db, id, changes);
      if (!updated) throw notFound();
      if (changes.isActive === false) await revokeAllSessions(deps.db, id, deps.clock.now());
      return sendJson(c, UserPublic, toPublicUser(updated), 200);
    });
}
