import { DomainError } from '../../core/domain-errors.ts';
import type { ChatMessage } from './ai.schemas.ts';
import type { Upstream } from './upstream.ts';

/** A guard refused a prompt or an answer; `guard` names it, `reason` says why in words. */
export class GuardBlockedError extends DomainError {
  readonly guard: string;
  readonly stage: 'input' | 'output';

  constructor(guard: string, stage: 'input' | 'output', reason: string) {
    super(`Blocked by the ${guard} guard (${stage}): ${reason}`);
    this.name = 'GuardBlockedError';
    this.guard = guard;
    this.stage = stage;
  }
}

/**
 * Checks what goes to the model and what comes back. `input` may give back the messages
 * changed (personal data masked); either may throw `GuardBlockedError`. A streamed answer is
 * checked as it grows (`final: false`, with its new text) and once whole (`final: true`); a
 * guard that is costly to ask (moderation) waits for the whole. `output` answers at once
 * (`undefined`, or it throws) when it needs no I/O: a streamed answer asks it at every event,
 * and a promise each time cost more than the check (decision 080).
 */
export interface Guard {
  readonly name: string;
  input(messages: ChatMessage[], signal: AbortSignal): Promise<ChatMessage[]>;
  output(text: string, signal: AbortSignal, options: { final: boolean }): Promise<void> | undefined;
}

/** Applies each guard in turn: the first to block wins, masks accumulate. */
export function guardChain(guards: readonly Guard[]): Guard {
  return {
    name: guards.map((guard) => guard.name).join('+'),
    async input(messages, signal) {
      let current = messages;
      for (const guard of guards) current = await guard.input(current, signal);
      return current;
    },
    output(text, signal, options) {
      const from = (start: number): Promise<void> | undefined => {
        for (let index = start; index < guards.length; index++) {
          const pending = guards[index]?.output(text, signal, options);
          if (pending) return pending.then(() => from(index + 1));
        }
        return undefined;
      };
      return from(0);
    },
  };
}

/**
 * An address, its parts no longer than the standard allows (64 before the `@`, 63 a label),
 * tried only where a run of the characters before the `@` starts. Unbounded and tried at every
 * letter, a long run of letters without an `@` was read to its end from each of them: 240,000
 * characters of CJK text took minutes.
 */
const EMAIL =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]{1,64}@[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63}){1,8}/gu;
/** 13 to 19 digits, maybe grouped by spaces or dashes: a card number when Luhn agrees. */
const CARD = /\b\d(?:[ -]?\d){12,18}\b/g;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The personal data found in `text`, each with what replaces it when masked. */
export function personalData(text: string): { found: string[]; masked: string } {
  const found: string[] = [];
  // Most text has no `@`, and finding one is far quicker than trying the pattern.
  const withoutEmails = text.includes('@')
    ? text.replace(EMAIL, () => {
        found.push('email address');
        return '[email]';
      })
    : text;
  const masked = withoutEmails.replace(CARD, (match) => {
    if (!luhn(match.replace(/\D/g, ''))) return match;
    found.push('card number');
    return '[card number]';
  });
  return { found, masked };
}

function mapText(message: ChatMessage, change: (text: string) => string): ChatMessage {
  const { content } = message;
  if (typeof content === 'string') return { ...message, content: change(content) };
  if (!Array.isArray(content)) return message;
  return {
    ...message,
    content: content.map((part) =>
      'text' in part && typeof part.text === 'string' ? { ...part, text: change(part.text) } : part,
    ),
  };
}

function texts(messages: readonly ChatMessage[]): string[] {
  return messages.flatMap((message) => {
    const { content } = message;
    if (typeof content === 'string') return [content];
    return (content ?? []).flatMap((part) =>
      'text' in part && typeof part.text === 'string' ? [part.text] : [],
    );
  });
}

/**
 * The built-in rule guard: refuses prompts and answers matching a blocked pattern, and masks
 * (or refuses) personal data in prompts, e-mail addresses and card numbers, before anything
 * is sent upstream or logged.
 */
export function ruleGuard(options: {
  blockedPatterns: readonly string[];
  personalData: 'off' | 'mask' | 'refuse';
}): Guard {
  const patterns = options.blockedPatterns.map((pattern) => new RegExp(pattern, 'iu'));
  const blocked = (text: string) => patterns.find((pattern) => pattern.test(text));
  return {
    name: 'rules',
    async input(messages) {
      for (const text of texts(messages)) {
        const hit = blocked(text);
        if (hit)
          throw new GuardBlockedError(
            'rules',
            'input',
            `matches a blocked pattern (${hit.source})`,
          );
      }
      if (options.personalData === 'off') return messages;
      if (options.personalData === 'refuse') {
        const found = texts(messages).flatMap((text) => personalData(text).found);
        if (found.length > 0) {
          throw new GuardBlockedError(
            'rules',
            'input',
            `contains personal data (${[...new Set(found)].join(', ')})`,
          );
        }
        return messages;
      }
      return messages.map((message) => mapText(message, (text) => personalData(text).masked));
    },
    output(text) {
      const hit = blocked(text);
      if (hit)
        throw new GuardBlockedError('rules', 'output', `matches a blocked pattern (${hit.source})`);
      return undefined;
    },
  };
}

/** Asks the upstream's moderation endpoint about the prompt and the answer. */
export function moderationGuard(upstream: Pick<Upstream, 'moderate'>): Guard {
  const check = async (stage: 'input' | 'output', text: string, signal: AbortSignal) => {
    if (text.trim().length === 0) return;
    const result = await upstream.moderate(text, signal);
    if (result.flagged) {
      throw new GuardBlockedError(
        'moderation',
        stage,
        `flagged by moderation${result.categories.length > 0 ? ` (${result.categories.join(', ')})` : ''}`,
      );
    }
  };
  return {
    name: 'moderation',
    async input(messages, signal) {
      await check('input', texts(messages).join('\n'), signal);
      return messages;
    },
    output(text, signal, { final }) {
      return final ? check('output', text, signal) : undefined;
    },
  };
}
