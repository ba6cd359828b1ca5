import { z } from '@hono/zod-openapi';

/** FastAPI's `OAuth2PasswordRequestForm`, plus the refresh grant, as one form. */
export const TokenRequest = z
  .object({
    grant_type: z.enum(['password', 'refresh_token']).openapi({ example: 'password' }),
    username: z
      .string()
      .max(254)
      .optional()
      .openapi({ description: 'The email (password grant).', example: 'ada@example.com' }),
    password: z
      .string()
      .max(128)
      .optional()
      .openapi({ description: 'Password grant.', example: 'correct horse battery staple' }),
    refresh_token: z.string().max(200).optional().openapi({ description: 'Refresh grant.' }),
    scope: z.string().max(500).optional().openapi({
      description: 'Space-separated scopes; all your role allows when absent.',
      example: 'items:read items:write',
    }),
    client_id: z.string().max(200).optional(),
    client_secret: z.string().max(200).optional(),
  })
  .superRefine((form, ctx) => {
    const required =
      form.grant_type === 'password'
        ? (['username', 'password'] as const)
        : (['refresh_token'] as const);
    for (const field of required) {
      if (!form[field])
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `is required for grant_type=${form.grant_type}`,
        });
    }
  })
  .openapi('TokenRequest', {
    example: {
      grant_type: 'password',
      username: 'ada@example.com',
      password: 'correct horse battery staple',
    },
  });

export const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal('bearer'),
    expires_in: z
      .number()
      .int()
      .openapi({ description: 'Seconds until the access token expires.' }),
    refresh_token: z.string(),
    scope: z.string(),
  })
  .openapi('TokenResponse', {
    example: {
      access_token:
        'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6Iml0ZW1zOnJlYWQifQ.c2lnbmF0dXJl',
      token_type: 'bearer',
      expires_in: 900,
      refresh_token: 'hrt_5Qm0m8c1cU3c9mJ6f2kq0rQb8mZf3l1Yw0vK5s7d2aE',
      scope: 'items:read items:write',
    },
  });

export const LogoutRequest = z
  .object({ refresh_token: z.string().min(1).max(200) })
  .openapi('LogoutRequest', {
    example: { refresh_token: 'hrt_5Qm0m8c1cU3c9mJ6f2kq0rQb8mZf3l1Yw0vK5s7d2aE' },
  });
