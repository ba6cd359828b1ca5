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

/** Tokens of a piece of text. */
export async function countTextTokens(text: string): Promise<number> {
  if (text.length === 0) return 0;
  return (await tokenizer()).countTokens(text);
}

/**
 * Tokens a list of messages takes in a prompt: each message's text plus the few tokens of
 * its framing (role and separators), as OpenAI counts them for chat models. An estimate for
 * other upstreams' tokenizers, close enough to fit a context window with a margin.
 */
export async function countPromptTokens(messages: readonly ChatMessage[]): Promise<number> {
  const { countTokens } = await tokenizer();
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const message of messages) {
    total += 3 + countTokens(messageText(message)) + (message.name ? 1 : 0);
    if (message.tool_calls) total += countTokens(JSON.stringify(message.tool_calls));
  }
  return total;
}
