import { isPlainObject } from '../../core/plain-object.ts';
import type { ChatCompletion, ChatCompletionChunk, Usage } from './ai.schemas.ts';

type ToolCall = Record<string, unknown> & { index?: number };

/**
 * Gathers a streamed answer as it passes, into the completion it amounts to: the content
 * joined, tool-call fragments merged by index, the finish reason and the usage of the last
 * chunk. What a cache stores, what a non-streaming follower of a shared call receives, and
 * what is counted when the upstream sent no usage.
 */
export class StreamAssembly {
  private id = '';
  private created = 0;
  private model = '';
  private content = '';
  private sawContent = false;
  private readonly toolCalls = new Map<number, ToolCall>();
  finishReason: string | null = null;
  usage: Usage | undefined;
  /** Chunks seen, the first with the role included. */
  chunks = 0;

  /** Takes in a chunk; returns the text it added (empty when it carried none). */
  add(chunk: ChatCompletionChunk): string {
    let added = '';
    this.chunks += 1;
    this.id ||= chunk.id;
    this.created ||= chunk.created;
    this.model ||= chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      const { content, tool_calls: calls } = choice.delta;
      if (typeof content === 'string') {
        this.content += content;
        added += content;
        this.sawContent = true;
      }
      for (const call of calls ?? []) this.mergeToolCall(call);
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    return added;
  }

  /** The text so far. */
  get text(): string {
    return this.content;
  }

  /**
   * Merged in place: copying the call for each fragment made a call that grows by a field a
   * fragment (as a hostile upstream can send it) cost the square of its size.
   */
  private mergeToolCall(fragment: Record<string, unknown>): void {
    const index = typeof fragment.index === 'number' ? fragment.index : 0;
    let call = this.toolCalls.get(index);
    if (!call) {
      call = {};
      this.toolCalls.set(index, call);
    }
    for (const [key, value] of Object.entries(fragment)) {
      if (key === 'function' && typeof value === 'object' && value !== null) {
        const fn = isPlainObject(call.function) ? call.function : {};
        call.function = fn;
        for (const [name, part] of Object.entries(value)) {
          // Arguments arrive in pieces; the name and the rest arrive once.
          fn[name] =
            name === 'arguments' && typeof part === 'string' && typeof fn.arguments === 'string'
              ? fn.arguments + part
              : part;
        }
      } else if (call[key] === undefined) {
        call[key] = value;
      }
    }
  }

  completion(): ChatCompletion {
    const toolCalls = [...this.toolCalls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => {
        const { index: _index, ...rest } = call;
        return rest;
      });
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: this.sawContent || toolCalls.length === 0 ? this.content : null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: this.finishReason,
        },
      ],
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }
}

/**
 * A completion told again as a stream (a cached or shared answer, for a client that asked
 * for one): the role, the content in word-sized pieces, tool calls whole, the finish reason,
 * and the usage last when the client asked for it.
 */
export function* chunksOf(
  completion: ChatCompletion,
  options: { includeUsage: boolean },
): Generator<ChatCompletionChunk> {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
  };
  const choice = completion.choices[0];
  const message = choice?.message;
  yield {
    ...base,
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
  };
  for (const piece of message?.content?.match(/\S*\s*/g)?.filter((part) => part.length > 0) ?? []) {
    yield { ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] };
  }
  if (message?.tool_calls && message.tool_calls.length > 0) {
    const calls = message.tool_calls.map((call, index) => ({ index, ...call }));
    yield { ...base, choices: [{ index: 0, delta: { tool_calls: calls }, finish_reason: null }] };
  }
  yield {
    ...base,
    choices: [{ index: 0, delta: {}, finish_reason: choice?.finish_reason ?? 'stop' }],
  };
  if (options.includeUsage && completion.usage) {
    yield { ...base, choices: [], usage: completion.usage };
  }
}
