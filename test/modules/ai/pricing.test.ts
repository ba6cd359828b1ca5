import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AiModel, aiModelSchema } from '../../../src/core/settings.ts';
import {
  costInPicodollars,
  formatPicodollars,
  parseDollars,
} from '../../../src/modules/ai/pricing.ts';

const model = (prices: Pick<AiModel, 'inputPrice' | 'outputPrice' | 'cachedInputPrice'>) =>
  aiModelSchema.parse({ id: 'm', contextWindow: 128_000, maxOutput: 1_000, ...prices });

test('a cost in exact picodollars: cached input at its own price, the same however often asked', () => {
  const priced = model({ inputPrice: '0.15', cachedInputPrice: '0.075', outputPrice: '0.60' });
  const tokens = { input: 1_000, cachedInput: 200, output: 500 };
  // 800 × 0.15 + 200 × 0.075 + 500 × 0.60 dollars per million tokens.
  for (let call = 0; call < 3; call++) {
    assert.equal(formatPicodollars(costInPicodollars(priced, tokens)), '0.000435000000');
  }
  const tiny = model({ inputPrice: '0.000001', outputPrice: '3' });
  assert.equal(
    costInPicodollars(tiny, { input: 1, cachedInput: 5, output: 1 }),
    1n + 3_000_000n,
    'cached input is never more than the input; without a cached price, input price',
  );
});

test('dollars as text and picodollars convert both ways', () => {
  for (const text of ['0.000000000001', '12.5', '-0.25']) {
    assert.equal(Number(formatPicodollars(parseDollars(text))), Number(text));
  }
});
