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

/** Every reply is primed with <|start|>assistant<|message|>. */
const REPLY_PRIMING_TOKENS = 3;

/**
 * Tokens each message takes in a prompt: its text plus the few tokens of its framing (role
 * and separators), as OpenAI counts them for chat models. An estimate for other upstreams'
 * tokenizers, close enough to fit a context window with a margin.
 */
export async function countMessageTokens(messages: readonly ChatMessage[]): Promise<number[]> {
  const { countTokens } = await tokenizer();
  return messages.map(
    (message) =>
      3 +
      countTokens(messageText(message)) +
      (message.name ? 1 : 0) +
      (message.tool_calls ? countTokens(JSON.stringify(message.tool_calls)) : 0),
  );
}

/** Tokens a list of messages takes in a prompt, the reply's priming included. */
export function promptTokensOf(messageTokens: readonly number[]): number {
  return messageTokens.reduce((sum, tokens) => sum + tokens, REPLY_PRIMING_TOKENS);
}

/** Tokens a list of messages takes in a prompt (`countMessageTokens`, summed and primed). */
export async function countPromptTokens(messages: readonly ChatMessage[]): Promise<number> {
  return promptTokensOf(await countMessageTokens(messages));
}
