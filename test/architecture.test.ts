/**
 * src/ keeps the architecture of docs/architecture.md, read from its imports (type-only and
 * dynamic ones included): layers only import downwards (entry points → app → modules → core),
 * a module reaches another only through its service and schemas, and no files import each
 * other in a cycle. The rules themselves are proven in test/import-graph.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  cycleViolations,
  ENTRY_POINTS,
  formatViolations,
  graphFromSources,
  type Layer,
  layeringViolations,
  layerOf,
  moduleBoundaryViolations,
  readSourceTree,
  type Violation,
} from './support/import-graph.ts';

const graph = graphFromSources(readSourceTree(join(import.meta.dirname, '..')));

function assertNone(violations: readonly Violation[], what: string): void {
  if (violations.length === 0) return;
  assert.fail(`${violations.length} ${what}:\n\n${formatViolations(violations)}`);
}

describe('the architecture of src/', () => {
  test('the graph is the real one: every layer has files, and imports link the layers', () => {
    const files = graph.map((node) => node.file);
    for (const entryPoint of ENTRY_POINTS) assert.ok(files.includes(entryPoint), entryPoint);
    const importsBetween = (from: Layer, to: Layer): boolean =>
      graph.some(
        (node) =>
          layerOf(node.file) === from && node.imports.some((edge) => layerOf(edge.target) === to),
      );
    // The app mounts the modules, modules use core: if these are not seen, nothing is.
    assert.ok(importsBetween('app', 'modules'), 'no import from the app layer into src/modules');
    assert.ok(importsBetween('modules', 'core'), 'no import from src/modules into src/core');
  });

  test('no layer imports a higher one', () => {
    assertNone(
      layeringViolations(graph),
      'imports up the layers (entry points → app → modules → core)',
    );
  });

  test('a module reaches another only through its service and schemas', () => {
    assertNone(moduleBoundaryViolations(graph), 'imports across module boundaries');
  });

  test('no files import each other in a cycle', () => {
    assertNone(cycleViolations(graph), 'import cycles');
  });
});
