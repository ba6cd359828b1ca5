import { and, desc, eq, max } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../core/db/database.ts';
import { InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import { isPlainObject } from '../../core/plain-object.ts';
import type { ChatCompletion, ChatCompletionRequest, ChatMessage } from './ai.schemas.ts';
import { aiPromptTemplates } from './ai.table.ts';
import { InvalidOutputError } from './ai-errors.ts';
import { type AiContext, runChat } from './chat.service.ts';
import type { Caller } from './limits.ts';
import { compiledSchema, MAX_LISTED_PROBLEMS, usableSchema } from './template-schemas.ts';

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

/**
 * The most characters a call's rendered messages may hold: the body limit's default (1 MiB),
 * so a template call sends no more than a chat completion could. Without it the rendering
 * is the template's size times the variables': 200,000 `{{x}}` times a 10 KB `x` is 2 GB.
 */
export const MAX_RENDERED_CHARS = 1_048_576;

/** The messages as stored: what `TemplateCreate` accepted. */
const StoredMessages = z.array(
  z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: z.string() }),
);

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g;

/** Each placeholder's text, made once per name: a string as it is, anything else as JSON. */
function placeholderTexts(values: Record<string, unknown>): (name: string) => string {
  const texts = new Map<string, string>();
  return (name) => {
    const known = texts.get(name);
    if (known !== undefined) return known;
    const value = values[name];
    let text: string;
    try {
      text = typeof value === 'string' ? value : JSON.stringify(value ?? null);
    } catch (error) {
      // A value the schema lets through unchecked (`{}`) may nest deeper than the stack.
      if (!(error instanceof RangeError)) throw error;
      throw new InvalidInputError('The variables cannot be put into the messages', [
        {
          path: `variables.${name}`,
          message: 'It is nested too deeply to write as JSON',
          code: 'too_deeply_nested',
        },
      ]);
    }
    texts.set(name, text);
    return text;
  };
}

/**
 * Refuses variables that would make the messages longer than `MAX_RENDERED_CHARS`, counted
 * from the template's text and each placeholder's text before anything is put together.
 */
function refuseLongRendering(messages: TemplateMessage[], textOf: (name: string) => string): void {
  let length = 0;
  const byName = new Map<string, number>();
  for (const message of messages) {
    length += message.content.length;
    for (const [placeholder, name = ''] of message.content.matchAll(PLACEHOLDER)) {
      const text = textOf(name);
      length += text.length - placeholder.length;
      byName.set(name, (byName.get(name) ?? 0) + text.length);
    }
  }
  if (length <= MAX_RENDERED_CHARS) return;
  const [name, chars] = [...byName].reduce(
    (most, entry) => (entry[1] > most[1] ? entry : most),
    ['', 0],
  );
  throw new InvalidInputError('The rendered messages would be too long', [
    {
      path: name ? `variables.${name}` : 'variables',
      message: `With these variables the messages would be ${length} characters, more than ${MAX_RENDERED_CHARS}${name ? `; {{${name}}} makes ${chars} of them` : ''}`,
      code: 'rendering_too_large',
    },
  ]);
}

function fromRow(row: typeof aiPromptTemplates.$inferSelect): PromptTemplate {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    model: row.model,
    messages: StoredMessages.parse(row.messages),
    variables: isPlainObject(row.variables) ? row.variables : {},
    outputSchema: isPlainObject(row.outputSchema) ? row.outputSchema : null,
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
  usableSchema(draft.variables, 'variables');
  if (draft.outputSchema) usableSchema(draft.outputSchema, 'outputSchema');
  const declared = new Set(
    Object.keys(isPlainObject(draft.variables.properties) ? draft.variables.properties : {}),
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

/** A version's name among compiled schemas: its rows never change. */
const versionOf = (template: PromptTemplate) => `${template.id}/${template.version}`;

/**
 * The chat request a template makes with `variables`: checked against its variables' schema
 * (each problem named, under `variables`), substituted into its messages (objects as JSON) if
 * they stay within `MAX_RENDERED_CHARS`, with its model, temperature, output cap, truncation,
 * and a `json_schema` answer format when it declares an output schema.
 */
export function renderTemplate(
  template: PromptTemplate,
  variables: unknown,
): ChatCompletionRequest {
  const version = versionOf(template);
  const schema = compiledSchema(version, 'variables', template.variables);
  // Refused now if it is unusable, before the model is paid to answer.
  if (template.outputSchema) compiledSchema(version, 'outputSchema', template.outputSchema);
  const checked = schema.check(variables);
  if (checked.kind === 'cannot check') {
    throw new InvalidInputError('The variables cannot be checked against the template', [
      {
        path: 'variables',
        message: `The variables cannot be checked: ${checked.reason}. Send fewer or flatter values, or give the template a simpler schema`,
        code: checked.code,
      },
    ]);
  }
  if (checked.kind === 'does not fit') {
    throw new InvalidInputError(
      'The variables do not fit the template',
      checked.issues.slice(0, MAX_LISTED_PROBLEMS).map((issue) => ({
        path: ['variables', ...issue.path.map(String)].join('.'),
        message: issue.message,
        code: issue.code,
      })),
    );
  }
  const textOf = placeholderTexts(isPlainObject(checked.data) ? checked.data : {});
  refuseLongRendering(template.messages, textOf);
  const messages: ChatMessage[] = template.messages.map((message) => ({
    role: message.role,
    content: message.content.replace(PLACEHOLDER, (_, name: string) => textOf(name)),
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
  const checked = compiledSchema(versionOf(template), 'outputSchema', template.outputSchema).check(
    json,
  );
  if (checked.kind === 'fits') return { ok: true, value: checked.data };
  if (checked.kind === 'cannot check')
    return { ok: false, problem: `the answer cannot be checked: ${checked.reason}` };
  return {
    ok: false,
    problem: checked.issues
      .slice(0, MAX_LISTED_PROBLEMS)
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
