import { z } from '@hono/zod-openapi';

const email = z
  .email()
  .max(254)
  .transform((value) => value.trim().toLowerCase())
  .openapi({ example: 'ada@example.com' });

/** Long enough to resist guessing, short enough that hashing it cannot be abused. */
export const password = z
  .string()
  .min(8)
  .max(128)
  .openapi({ example: 'correct horse battery staple' });

const name = z.string().trim().min(1).max(100).openapi({ example: 'Ada Lovelace' });

export const UserRole = z.enum(['user', 'admin']).openapi('UserRole');

const exampleUser = {
  id: '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  role: 'user' as const,
  isActive: true,
  createdAt: new Date('2026-01-01T12:00:00Z'),
  updatedAt: new Date('2026-01-01T12:00:00Z'),
};

/** What any client may see of a user: never the password hash. */
export const UserPublic = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: UserRole,
    isActive: z.boolean(),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .openapi('UserPublic', { example: exampleUser });

export const UserPage = z
  .object({ data: z.array(UserPublic), nextCursor: z.string().nullable() })
  .openapi('UserPage', { example: { data: [exampleUser], nextCursor: null } });

export const UserRegister = z.object({ email, password, name }).openapi('UserRegister', {
  example: {
    email: 'ada@example.com',
    password: 'correct horse battery staple',
    name: 'Ada Lovelace',
  },
});

export const UserUpdateMe = z
  .object({
    name: name.optional(),
    email: email.optional(),
    password: password.optional(),
    currentPassword: z
      .string()
      .max(128)
      .optional()
      .openapi({ description: 'Required to change the password.' }),
  })
  .refine((value) => value.password === undefined || value.currentPassword !== undefined, {
    path: ['currentPassword'],
    message: 'is required to change the password',
  })
  .openapi('UserUpdateMe', { example: { name: 'Ada King' } });

export const UserAdminUpdate = z
  .object({ name: name.optional(), role: UserRole.optional(), isActive: z.boolean().optional() })
  .openapi('UserAdminUpdate', { example: { isActive: false } });

export type UserRegister = z.output<typeof UserRegister>;
export type UserUpdateMe = z.output<typeof UserUpdateMe>;
export type UserAdminUpdate = z.output<typeof UserAdminUpdate>;

/** Where a page of users ends: users are listed in id (creation) order. */
export const UserPosition = z.object({ id: z.uuid() });
