import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { isUniqueViolation } from '../../core/db/errors.ts';
import { preparedPerDatabase } from '../../core/db/prepared.ts';
import { ConflictError, InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import { hashPassword, verifyPassword } from '../../core/security/passwords.ts';
import type { Role } from '../../core/security/scopes.ts';
import { users } from './users.table.ts';

export type User = typeof users.$inferSelect;

/** The fields of a user any client may see. */
export function toPublicUser(user: User) {
  const { id, email, name, role, isActive, createdAt, updatedAt } = user;
  return { id, email, name, role, isActive, createdAt, updatedAt };
}

function emailTaken(): ConflictError {
  return new ConflictError('An account with this email already exists');
}

/** Creates a user; the password is hashed here and nowhere else. A taken email conflicts. */
export async function createUser(
  db: Database,
  input: { email: string; password: string; name: string; role?: Role },
): Promise<User> {
  const passwordHash = await hashPassword(input.password);
  try {
    const [user] = await db
      .insert(users)
      .values({ email: input.email, name: input.name, passwordHash, role: input.role ?? 'user' })
      .returning();
    if (!user) throw new Error('insert returned no row');
    return user;
  } catch (error) {
    if (isUniqueViolation(error)) throw emailTaken();
    throw error;
  }
}

const userById = preparedPerDatabase((db) =>
  db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare('user_by_id'),
);

/** Runs on every `/v1/users/me` and every cache miss of auth: prepared once. */
export async function findUserById(db: Database, id: string): Promise<User | undefined> {
  const [user] = await userById(db).execute({ id });
  return user;
}

export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
  const [user] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = ${email.trim().toLowerCase()}`);
  return user;
}

/** The fields of a user that can change; the password arrives in clear and is hashed here. */
export interface UserChanges {
  name?: string | undefined;
  email?: string | undefined;
  password?: string | undefined;
  role?: Role | undefined;
  isActive?: boolean | undefined;
}

/** Applies `changes` to the user; undefined fields stay. A taken email conflicts. */
export async function updateUser(db: Database, id: string, changes: UserChanges): Promise<User> {
  const values: Partial<typeof users.$inferInsert> = {};
  if (changes.name !== undefined) values.name = changes.name;
  if (changes.email !== undefined) values.email = changes.email;
  if (changes.role !== undefined) values.role = changes.role;
  if (changes.isActive !== undefined) values.isActive = changes.isActive;
  if (changes.password !== undefined) values.passwordHash = await hashPassword(changes.password);
  const [user] =
    Object.keys(values).length === 0
      ? [await findUserById(db, id)]
      : await db
          .update(users)
          .set(values)
          .where(eq(users.id, id))
          .returning()
          .catch((error: unknown) => {
            throw isUniqueViolation(error) ? emailTaken() : error;
          });
  if (!user) throw new NotFoundError('user');
  return user;
}

/**
 * A user changing their own account: a new password needs the current one, so a stolen
 * session cannot lock its owner out.
 */
export async function changeOwnAccount(
  db: Database,
  id: string,
  changes: Omit<UserChanges, 'role' | 'isActive'> & { currentPassword?: string | undefined },
): Promise<User> {
  const { currentPassword, ...rest } = changes;
  if (rest.password !== undefined) {
    const user = await findUserById(db, id);
    if (!user) throw new NotFoundError('user');
    if (!(await verifyPassword(currentPassword ?? '', user.passwordHash))) {
      throw new InvalidInputError('The current password is not correct', [
        { path: 'currentPassword', message: 'is not correct', code: 'incorrect' },
      ]);
    }
  }
  return updateUser(db, id, rest);
}

/** One page of users in id (creation) order, after `afterId`. */
export async function listUsers(
  db: Database,
  page: { limit: number; afterId: string | undefined },
): Promise<User[]> {
  return db
    .select()
    .from(users)
    .where(page.afterId ? and(gt(users.id, page.afterId)) : undefined)
    .orderBy(asc(users.id))
    .limit(page.limit);
}
