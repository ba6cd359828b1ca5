import { setImmediate as nextTurn } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import type { ChatMessage } from './ai.schemas.ts';
import { loadTokenizer as tokenizer } from './tokenizer.ts';

/** The text of a message's content: parts that are not text (images) count nothing here. */
export function messageText(message: Pick<ChatMessage, 'content'>): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content
    .map((part) => ('text' in part && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/**
 * Longest stretch of text handed to the tokenizer without a word boundary in it. Byte-pair
 * encoding a stretch costs about the square of its length: 100,000 characters of `a` took
 * 4 s, 300,000 of CJK text (one stretch to the tokenizer, and under the 1 MiB body limit)
 * six and a half minutes, the event loop held all along. Cut at 256 characters, a megabyte
 * of any of them takes tens of milliseconds.
 */
const STRETCH_MAX = 256;
/**
 * Text counted between two turns of the event loop. The cost per character is linear now but
 * not small: a megabyte of random base64 (every piece a new one) takes most of a second, which
 * other requests should not wait for in one block.
 */
const TURN_CHARACTERS = 32 * 1024;

/**
 * The text in segments the tokenizer encodes in time linear in their length: cut inside a
 * stretch of more than STRETCH_MAX characters without a word boundary (a space before a
 * character that is not one), and at a word boundary once a segment holds TURN_CHARACTERS.
 * The tokenizer's own split never joins text across such a boundary, so text with spaces is
 * counted exactly; a longer stretch (a long URL, base64, text without spaces) may count a
 * token or two more per cut than it would whole.
 */
export function tokenizerSegments(text: string): string[] {
  const segments: string[] = [];
  let start = 0;
  let stretchStart = 0;
  for (let index = 1; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x20 && !isWhitespace(text.charCodeAt(index + 1))) {
      stretchStart = index;
      if (index - start < TURN_CHARACTERS) continue;
    } else if (index - stretchStart < STRETCH_MAX || (code >= 0xdc00 && code <= 0xdfff)) {
      // Not between the two halves of a surrogate pair either, which count as two odd bytes.
      continue;
    }
    segments.push(text.slice(start, index));
    start = index;
    stretchStart = index;
  }
  segments.push(text.slice(start));
  return segments;
}

/** What `\s` matches (NaN, past the end, counts as whitespace: no boundary there). */
function isWhitespace(code: number): boolean {
  if (Number.isNaN(code) || code === 0x20 || (code >= 0x09 && code <= 0x0d)) return true;
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Runs `each` on the text's segments, letting the event loop turn between large ones. */
async function forEachSegment(text: string, each: (segment: string) => void): Promise<void> {
  if (text.length <= STRETCH_MAX) {
    each(text);
    return;
  }
  let sinceTurn = 0;
  for (const segment of tokenizerSegments(text)) {
    if (sinceTurn >= TURN_CHARACTERS) {
      await nextTurn();
      sinceTurn = 0;
    }
    each(segment);
    sinceTurn += segment.length;
  }
}

/**
 * Counts of texts counted lately, by the text itself. A conversation sends every earlier turn
 * again with each new one, and a system prompt comes with every call: without them, a long
 * conversation's every call counted all of it again (a hundred thousand characters, tens of
 * milliseconds of CPU), where only its last message is new. Bounded by the characters held.
 */
const counted = new LRUCache<string, number>({
  maxSize: 4_000_000,
  maxEntrySize: 1_000_000,
  sizeCalculation: (_count, text) => text.length,
});

/** Tokens of a piece of text. */
export async function countTextTokens(text: string): Promise<number> {
  if (text.length === 0) return 0;
  const known = counted.get(text);
  if (known !== undefined) return known;
  const { countTokens } = await tokenizer();
  let count = 0;
  await forEachSegment(text, (segment) => {
    count += countTokens(segment);
  });
  counted.set(text, count);
  return count;
}

/** The tokens of a text, encoded segment by segment (`tokenizerSegments`). */
export async function encodeText(text: string): Promise<number[]> {
  const { encode } = await tokenizer();
  const tokens: number[] = [];
  await forEachSegment(text, (segment) => {
    for (const token of encode(segment)) tokens.push(token);
  });
  return tokens;
}

/** Every reply is primed with <|start|>assistant<|message|>. */
const REPLY_PRIMING_TOKENS = 3;

/**
 * Tokens each message takes in a prompt: its text plus the few tokens of its framing (role
 * and separators), as OpenAI counts them for chat models. An estimate for other upstreams'
 * tokenizers, close enough to fit a context window with a margin.
 */
export async function countMessageTokens(messages: readonly ChatMessage[]): Promise<number[]> {
  const counts: number[] = [];
  for (const message of messages) {
    counts.push(
      3 +
        (await countTextTokens(messageText(message))) +
        (message.name ? 1 : 0) +
        (message.tool_calls ? await countTextTokens(JSON.stringify(message.tool_calls)) : 0),
    );
  }
  return counts;
}

/** Tokens a list of messages takes in a prompt, the reply's priming included. */
export function promptTokensOf(messageTokens: readonly number[]): number {
  return messageTokens.reduce((sum, tokens) => sum + tokens, REPLY_PRIMING_TOKENS);
}

/** Tokens a list of messages takes in a prompt (`countMessageTokens`, summed and primed). */
export async function countPromptTokens(messages: readonly ChatMessage[]): Promise<number> {
  return promptTokensOf(await countMessageTokens(messages));
}
