import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage } from './ai.schemas.ts';
import { countPromptTokens, countTextTokens, messageText } from './tokens.ts';
import type { ChatReply, StreamEvent, Upstream } from './upstream.ts';

/** Dimensions of the development model's embeddings. */
export const LOCAL_EMBEDDING_DIMENSIONS = 1_536;

/**
 * The built-in development model: it answers what it was told, deterministically, streaming
 * word by word, and says plainly that it is not a real model. Usage is counted with the
 * same tokenizer the gateway uses, and reported in the last chunk when asked, as OpenAI does.
 */
export function localModel(options: { wordDelayMs: number }): Upstream {
  return {
    name: 'local',
    async chat(body, signal) {
      const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
      const model = typeof body.model === 'string' ? body.model : 'dev-local-echo';
      const maxTokens = numberOf(body.max_completion_tokens) ?? numberOf(body.max_tokens);
      const text = answerTo(messages, body.response_format);
      const words = text.match(/\S+\s*/g) ?? [];
      const promptTokens = await countPromptTokens(messages);
      const id = `chatcmpl-local-${createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 16)}`;
      const created = Math.floor(Date.now() / 1000);
      // Words until the output cap: a cut answer ends with `length`, as a real model's does.
      const kept: string[] = [];
      let outputTokens = 0;
      for (const word of words) {
        const tokens = await countTextTokens(word);
        if (maxTokens !== undefined && outputTokens + tokens > maxTokens) break;
        kept.push(word);
        outputTokens += tokens;
      }
      const finishReason = kept.length < words.length ? 'length' : 'stop';
      const usage = {
        prompt_tokens: promptTokens,
        completion_tokens: outputTokens,
        total_tokens: promptTokens + outputTokens,
      };
      if (body.stream !== true) {
        const completion: ChatCompletion = {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: kept.join('') },
              finish_reason: finishReason,
            },
          ],
          usage,
        };
        return { kind: 'json', completion, requestId: id } satisfies ChatReply;
      }
      const includeUsage =
        typeof body.stream_options === 'object' &&
        body.stream_options !== null &&
        'include_usage' in body.stream_options &&
        body.stream_options.include_usage === true;
      async function* events(): AsyncGenerator<StreamEvent[]> {
        const chunk = (
          delta: ChatCompletionChunk['choices'][number]['delta'],
          finish: string | null,
        ) =>
          event({
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [{ index: 0, delta, finish_reason: finish }],
          });
        // Each word on its own, as a model streaming token by token sends them.
        yield [chunk({ role: 'assistant', content: '' }, null)];
        for (const word of kept) {
          if (options.wordDelayMs > 0) await sleep(options.wordDelayMs, undefined, { signal });
          signal.throwIfAborted();
          yield [chunk({ content: word }, null)];
        }
        const last = [chunk({}, finishReason)];
        if (includeUsage) {
          last.push(
            event({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }),
          );
        }
        yield last;
      }
      return { kind: 'stream', events: events(), requestId: id } satisfies ChatReply;
    },
    async moderate(input) {
      // Nothing is harmful to a model that only repeats; a marker lets a developer try the path.
      const flagged = /\[flag\]/i.test(input);
      return { flagged, categories: flagged ? ['test-marker'] : [] };
    },
    async embed({ input, dimensions }) {
      const vectors = input.map((text) => embedLocally(text, dimensions));
      const promptTokens = (await Promise.all(input.map(countTextTokens))).reduce(
        (a, b) => a + b,
        0,
      );
      return { vectors, promptTokens, requestId: undefined };
    },
  };
}

function event(chunk: ChatCompletionChunk): StreamEvent {
  return { data: JSON.stringify(chunk), chunk };
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** What the development model says: the last user message, given back, and what it is. */
function answerTo(messages: readonly ChatMessage[], format: unknown): string {
  const last = [...messages].reverse().find((message) => message.role === 'user');
  const said = last ? messageText(last).trim() : '';
  const wantsJson =
    typeof format === 'object' &&
    format !== null &&
    'type' in format &&
    (format.type === 'json_object' || format.type === 'json_schema');
  if (wantsJson) return JSON.stringify({ echo: said, model: 'dev-local-echo' });
  return said.length > 0
    ? `This is the development model, not a real one. You said: ${said}`
    : 'This is the development model, not a real one. Say something and I will repeat it.';
}

/**
 * Words too common to tell texts apart: counted, they would make every question look like
 * every passage ("what is the …").
 */
const STOP_WORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have how i if in ' +
    'into is it its me my no not of on or our so than that the their them then there these ' +
    'they this to was we were what when where which who why will with would you your'
  ).split(' '),
);

/**
 * A deterministic embedding in which texts sharing words are closer than texts that do not:
 * each lower-cased word (but the commonest) adds 1 or -1 to a dimension chosen by its hash
 * (the sign from the hash too, so words that collide cancel out on average instead of adding
 * up), and the vector is normalised, so the dot product is the cosine similarity.
 */
export function embedLocally(text: string, dimensions = LOCAL_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (STOP_WORDS.has(word)) continue;
    const digest = createHash('sha256').update(word).digest();
    const slot = digest.readUInt32BE(0) % dimensions;
    vector[slot] = (vector[slot] ?? 0) + ((digest[4] ?? 0) & 1 ? -1 : 1);
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  return norm === 0 ? vector : vector.map((value) => value / norm);
}
