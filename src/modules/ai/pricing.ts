import type { AiModel } from '../../core/settings.ts';

/**
 * Cost in exact decimals. Prices are US dollars per million tokens with at most 6
 * decimals, so price × 10^6 is a whole number of micro-dollars per million tokens, and a
 * call's cost is a whole number of 10^-12 dollars: BigInt arithmetic, no float anywhere.
 */
const SCALE = 12;

/**
 * Each price text parsed once: a model table holds a handful, and every call was pricing
 * three of them from their text again (0.8% of a streamed gateway call's CPU).
 */
const parsedPrices = new Map<string, bigint>();

function microPerMillion(price: string): bigint {
  let micro = parsedPrices.get(price);
  if (micro === undefined) {
    const [whole = '0', fraction = ''] = price.split('.');
    micro = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6));
    parsedPrices.set(price, micro);
  }
  return micro;
}

/** Tokens of a call, as billed: cached input is a part of input, priced apart. */
export interface TokenCounts {
  input: number;
  cachedInput: number;
  output: number;
}

/** The cost of `tokens` on `model`, in 10^-12 US dollars. */
export function costInPicodollars(model: AiModel, tokens: TokenCounts): bigint {
  const cached = BigInt(Math.min(tokens.cachedInput, tokens.input));
  const uncached = BigInt(tokens.input) - cached;
  return (
    uncached * microPerMillion(model.inputPrice) +
    cached * microPerMillion(model.cachedInputPrice ?? model.inputPrice) +
    BigInt(tokens.output) * microPerMillion(model.outputPrice)
  );
}

/** 10^-12 dollars as a decimal string with 12 decimals: `"0.000001500000"`. */
export function formatPicodollars(amount: bigint): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(SCALE + 1, '0');
  const text = `${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`;
  return negative ? `-${text}` : text;
}

/** A decimal string of dollars (as stored or configured) in 10^-12 dollars. */
export function parseDollars(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const value =
    BigInt(whole) * 10n ** BigInt(SCALE) + BigInt(fraction.padEnd(SCALE, '0').slice(0, SCALE));
  return negative ? -value : value;
}

/** Picodollars in whole nanodollars, rounded up: the unit budget counters keep in Redis. */
export function toNanodollars(amount: bigint): number {
  return Number((amount + 999n) / 1_000n);
}
