import { and, desc, eq, max } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../core/db/database.ts';
import { InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import type { ChatCompletion, ChatCompletionRequest, ChatMessage } from './ai.schemas.ts';
import { aiPromptTemplates } from './ai.table.ts';
import { InvalidOutputError } from './ai-errors.ts';
import { type AiContext, runChat } from './chat.service.ts';
import type { Caller } from './limits.ts';

export interface TemplateMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  /** Text with `{{variable}}` placeholders. */
  content: string;
}

export interface PromptTemplate {
  id: string;
  name: string;
  version: number;
  model: string;
  messages: TemplateMessage[];
  /** JSON Schema of the variables a call gives (an object schema). */
  variables: Record<string, unknown>;
  /** JSON Schema the answer must fit, as JSON; absent for free text. */
  outputSchema: Record<string, unknown> | null;
  temperature: string | null;
  maxTokens: number | null;
  truncation: 'auto' | 'disabled';
  createdAt: Date;
}

export type TemplateDraft = Omit<PromptTemplate, 'id' | 'version' | 'createdAt'>;

/** The messages as stored: what `TemplateCreate` accepted. */
const StoredMessages = z.array(
  z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: z.string() }),
);

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON Schema as a zod schema, or the reason it is not one we can check against. */
function schemaOf(jsonSchema: Record<string, unknown>, path: string): z.ZodType {
  try {
    return z.fromJSONSchema(jsonSchema);
  } catch (error) {
    throw new InvalidInputError('The template has a JSON Schema that cannot be used', [
      {
        path,
        message: error instanceof Error ? error.message : String(error),
        code: 'invalid_schema',
      },
    ]);
  }
}

function fromRow(row: typeof aiPromptTemplates.$inferSelect): PromptTemplate {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    model: row.model,
    messages: StoredMessages.parse(row.messages),
    variables: isRecord(row.variables) ? row.variables : {},
    outputSchema: isRecord(row.outputSchema) ? row.outputSchema : null,
    temperature: row.temperature,
    maxTokens: row.maxTokens,
    truncation: row.truncation === 'auto' ? 'auto' : 'disabled',
    createdAt: row.createdAt,
  };
}

/**
 * Stores `draft` as the next version of the owner's template of that name (version 1 for a
 * new name). Its placeholders must all be declared variables, and its schemas usable.
 */
export async function createTemplateVersion(
  db: Database,
  ownerId: string,
  draft: TemplateDraft,
): Promise<PromptTemplate> {
  schemaOf(draft.variables, 'variables');
  if (draft.outputSchema) schemaOf(draft.outputSchema, 'outputSchema');
  const declared = new Set(
    Object.keys(isRecord(draft.variables.properties) ? draft.variables.properties : {}),
  );
  const undeclared = draft.messages.flatMap((message, index) =>
    [...message.content.matchAll(PLACEHOLDER)]
      .map((match) => match[1] ?? '')
      .filter((name) => !declared.has(name))
      .map((name) => ({
        path: `messages.${index}.content`,
        message: `{{${name}}} is not a declared variable`,
        code: 'undeclared_variable',
      })),
  );
  if (undeclared.length > 0)
    throw new InvalidInputError('The template uses undeclared variables', undeclared);
  // Two writers of the same name race for the same version: the unique key decides, and
  // the loser takes the next number.
  for (let attempt = 0; ; attempt++) {
    const [current] = await db
      .select({ version: max(aiPromptTemplates.version) })
      .from(aiPromptTemplates)
      .where(and(eq(aiPromptTemplates.ownerId, ownerId), eq(aiPromptTemplates.name, draft.name)));
    const [row] = await db
      .insert(aiPromptTemplates)
      .values({
        id: uuidv7(),
        ownerId,
        name: draft.name,
        version: (current?.version ?? 0) + 1,
        model: draft.model,
        messages: draft.messages,
        variables: draft.variables,
        outputSchema: draft.outputSchema,
        temperature: draft.temperature,
        maxTokens: draft.maxTokens,
        truncation: draft.truncation,
      })
      .onConflictDoNothing()
      .returning();
    if (row) return fromRow(row);
    if (attempt >= 5) throw new Error('could not take a template version number');
  }
}

/** The caller's template version `id`; another owner's is not found. */
export async function getTemplate(
  db: Database,
  ownerId: string,
  id: string,
): Promise<PromptTemplate> {
  const [row] = await db
    .select()
    .from(aiPromptTemplates)
    .where(and(eq(aiPromptTemplates.id, id), eq(aiPromptTemplates.ownerId, ownerId)));
  if (!row) throw new NotFoundError('template');
  return fromRow(row);
}

/** The caller's templates: every version of `name`, or the latest of each name. */
export async function listTemplates(
  db: Database,
  ownerId: string,
  name: string | undefined,
): Promise<PromptTemplate[]> {
  if (name !== undefined) {
    const rows = await db
      .select()
      .from(aiPromptTemplates)
      .where(and(eq(aiPromptTemplates.ownerId, ownerId), eq(aiPromptTemplates.name, name)))
      .orderBy(desc(aiPromptTemplates.version));
    return rows.map(fromRow);
  }
  const rows = await db
    .selectDistinctOn([aiPromptTemplates.name])
    .from(aiPromptTemplates)
    .where(eq(aiPromptTemplates.ownerId, ownerId))
    .orderBy(aiPromptTemplates.name, desc(aiPromptTemplates.version));
  return rows.map(fromRow);
}

/**
 * The chat request a template makes with `variables`: checked against its variables' schema
 * (each problem named, under `variables`), substituted into its messages (objects as JSON),
 * with its model, temperature, output cap, truncation, and a `json_schema` answer format when
 * it declares an output schema.
 */
export function renderTemplate(
  template: PromptTemplate,
  variables: unknown,
): ChatCompletionRequest {
  const parsed = schemaOf(template.variables, 'variables').safeParse(variables);
  if (!parsed.success) {
    throw new InvalidInputError(
      'The variables do not fit the template',
      parsed.error.issues.map((issue) => ({
        path: ['variables', ...issue.path.map(String)].join('.'),
        message: issue.message,
        code: issue.code,
      })),
    );
  }
  const values = isRecord(parsed.data) ? parsed.data : {};
  const messages: ChatMessage[] = template.messages.map((message) => ({
    role: message.role,
    content: message.content.replace(PLACEHOLDER, (_, name: string) => {
      const value = values[name];
      return typeof value === 'string' ? value : JSON.stringify(value ?? null);
    }),
  }));
  return {
    model: template.model,
    messages,
    ...(template.temperature === null ? {} : { temperature: Number(template.temperature) }),
    ...(template.maxTokens === null ? {} : { max_tokens: template.maxTokens }),
    truncation: template.truncation,
    ...(template.outputSchema
      ? {
          response_format: {
            type: 'json_schema',
            json_schema: {
              name: template.name.replace(/[^\w-]/g, '_'),
              schema: template.outputSchema,
              strict: true,
            },
          },
        }
      : {}),
  };
}

/**
 * Whether an answer fits the template's output schema: the parsed JSON, or what is wrong
 * with it, in words a model can act on when asked again.
 */
export function checkOutput(
  template: PromptTemplate,
  completion: ChatCompletion,
): { ok: true; value: unknown } | { ok: false; problem: string } {
  if (!template.outputSchema)
    return { ok: true, value: completion.choices[0]?.message.content ?? '' };
  const text = completion.choices[0]?.message.content ?? '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'the answer is not JSON' };
  }
  const parsed = schemaOf(template.outputSchema, 'outputSchema').safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    problem: parsed.error.issues
      .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
      .join('; '),
  };
}

/**
 * Calls a template with `variables`: rendered, run as a chat completion, and (with an output
 * schema) checked; an answer that does not fit is shown to the model with what is wrong, and
 * it is asked again, up to `attempts` tries in all.
 */
export async function completeTemplate(
  ctx: AiContext,
  caller: Caller,
  template: PromptTemplate,
  variables: unknown,
  options: { signal: AbortSignal; attempts: number },
): Promise<{ completion: ChatCompletion; output: unknown; attempts: number }> {
  let request = renderTemplate(template, variables);
  let problem = '';
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    const result = await runChat(
      ctx,
      caller,
      { ...request, stream: false },
      { signal: options.signal, cache: 'default' },
    );
    if (result.kind !== 'json') throw new Error('a call without stream answered a stream');
    const checked = checkOutput(template, result.completion);
    if (checked.ok)
      return { completion: result.completion, output: checked.value, attempts: attempt };
    problem = checked.problem;
    request = {
      ...request,
      messages: [
        ...request.messages,
        { role: 'assistant', content: result.completion.choices[0]?.message.content ?? '' },
        {
          role: 'user',
          content: `That answer does not fit the required JSON Schema (${problem}). Answer again with JSON that fits it, and nothing else.`,
        },
      ],
    };
  }
  throw new InvalidOutputError(problem, options.attempts);
}
