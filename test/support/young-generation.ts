/**
 * A fresh Node process that grows V8's young generation as loading modules or a burst of
 * requests does (many objects kept a while), then runs the code under test and reports the
 * young generation's size before and after it, in MB, with what that code returned.
 *
 * @example
 * const { before, after } = youngGenerationProbe(['--expose-gc'], {
 *   imports: "import { releaseStartUpMemory } from './src/core/start-up-memory.ts';",
 *   release: 'return releaseStartUpMemory();',
 * });
 */
import { runModuleScript } from './module-script.ts';

export interface YoungGenerationProbe {
  /** Module imports (paths from the repository's root). */
  imports: string;
  /** Statements run before the burst. */
  setup?: string;
  /** The body of an async function run after it; what it returns is `released`. */
  release: string;
}

export function youngGenerationProbe(
  flags: readonly string[],
  probe: YoungGenerationProbe,
): { before: number; after: number; released: unknown } {
  const source = `
import { getHeapSpaceStatistics } from 'node:v8';
${probe.imports}
const newSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
${probe.setup ?? ''}
const kept = [];
for (let round = 0; round < 60; round++) {
  kept.push(Array.from({ length: 20_000 }, (_, index) => ({ round, index })));
  if (kept.length > 8) kept.shift();
}
kept.length = 0;
const before = newSpace();
const released = await (async () => { ${probe.release} })();
console.log(JSON.stringify({ before, after: newSpace(), released }));
`;
  return JSON.parse(runModuleScript(flags, source));
}
