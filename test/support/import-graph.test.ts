/**
 * The architecture rules of test/support/import-graph.ts, proven on planted violations: each
 * rule must fail on a graph that breaks it and pass on one that does not, and the parser must
 * see every kind of import (and nothing that only looks like one). test/architecture.test.ts
 * applies the rules to src/.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cycleViolations,
  type FoundImport,
  graphFromSources,
  type ImportGraph,
  importCycles,
  importsOf,
  layeringViolations,
  layerOf,
  moduleBoundaryViolations,
  moduleOf,
  resolveSpecifier,
  UnfollowableImportError,
} from './import-graph.ts';

type EdgeSpec = string | { target: string; typeOnly: boolean };

/** A graph from `{ file: [targets] }`; the n-th import of a file is on line n. */
function graphOf(imports: Record<string, EdgeSpec[]>): ImportGraph {
  return Object.entries(imports).map(([file, targets]) => ({
    file,
    imports: targets.map((spec, at) =>
      typeof spec === 'string'
        ? { target: spec, typeOnly: false, line: at + 1 }
        : { ...spec, line: at + 1 },
    ),
  }));
}

function whereOf(violations: readonly { where: string }[]): string[] {
  return violations.map((violation) => violation.where);
}

function specifiersOf(found: readonly FoundImport[]): string[] {
  return found.map((imported) => imported.specifier);
}

describe('reading imports', () => {
  test('every kind of import is seen, with its line and whether it is type-only', () => {
    const text = [
      "import type { A } from './a.ts';",
      "import { type B } from './b.ts';",
      "import { type C, c } from './c.ts';",
      "export * from './d.ts';",
      "export * as e from './e.ts';",
      "export type { F } from './f.ts';",
      "export { g } from './g.ts';",
      "import './h.ts';",
      "import data from '../i.json' with { type: 'json' };",
      'export async function load() {',
      "  return [await import('./j.ts'), await import(`./k.ts`)];",
      '}',
      "type L = import('./l.ts').L;",
      "export function m(value: typeof import('./m.ts')): Promise<import('./n.ts').N> {",
      '  return value.n();',
      '}',
      'export const o = (): void => {',
      "  const lazy = () => import('./o.ts');",
      '  void lazy;',
      '};',
      "import * as p from 'node:path';",
      "import { Hono } from 'hono';",
    ].join('\n');
    assert.deepEqual(importsOf(text, 'src/x.ts'), [
      { specifier: './a.ts', typeOnly: true, line: 1 },
      // Node still evaluates b.ts: the import stays as `import {} from './b.ts'`.
      { specifier: './b.ts', typeOnly: false, line: 2 },
      { specifier: './c.ts', typeOnly: false, line: 3 },
      { specifier: './d.ts', typeOnly: false, line: 4 },
      { specifier: './e.ts', typeOnly: false, line: 5 },
      { specifier: './f.ts', typeOnly: true, line: 6 },
      { specifier: './g.ts', typeOnly: false, line: 7 },
      { specifier: './h.ts', typeOnly: false, line: 8 },
      { specifier: '../i.json', typeOnly: false, line: 9 },
      { specifier: './j.ts', typeOnly: false, line: 11 },
      { specifier: './k.ts', typeOnly: false, line: 11 },
      { specifier: './l.ts', typeOnly: true, line: 13 },
      { specifier: './m.ts', typeOnly: true, line: 14 },
      { specifier: './n.ts', typeOnly: true, line: 14 },
      { specifier: './o.ts', typeOnly: false, line: 18 },
      { specifier: 'node:path', typeOnly: false, line: 21 },
      { specifier: 'hono', typeOnly: false, line: 22 },
    ]);
  });

  test('imports in comments and strings are not imports', () => {
    const text = [
      "// import { a } from './comment-line.ts';",
      "/* import('./comment-block.ts') */",
      '/**',
      ' * @example',
      " * import { b } from './jsdoc.ts';",
      ' */',
      `const single = "import { c } from './string.ts'";`,
      "const template = `await import('./template.ts')`;",
      "const call = 'import(\\'./escaped.ts\\')';",
      "export const all = [single, template, call, /import\\('\\.\\/regex\\.ts'\\)/];",
      "import { real } from './real.ts';",
      'export { real };',
    ].join('\n');
    assert.deepEqual(specifiersOf(importsOf(text, 'src/x.ts')), ['./real.ts']);
  });

  test('an export with no source is no import', () => {
    const text =
      "import { a } from './a.ts';\nexport { a };\nexport const b = 1;\nexport default a;";
    assert.deepEqual(specifiersOf(importsOf(text, 'src/x.ts')), ['./a.ts']);
  });

  test('an import() of a computed specifier is refused: no rule could check it', () => {
    assert.throws(
      () => importsOf("const name = './a.ts';\nexport const a = import(name);", 'src/x.ts'),
      (error) => error instanceof UnfollowableImportError && /src\/x\.ts:2 /.test(error.message),
    );
    assert.throws(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: source text holding a template literal
      () => importsOf('export const a = (n: string) => import(`./${n}.ts`);', 'src/x.ts'),
      UnfollowableImportError,
    );
  });

  test('a file that does not parse is named', () => {
    assert.throws(() => importsOf('import {', 'src/broken.ts'), /src\/broken\.ts does not parse/);
  });
});

describe('resolving specifiers', () => {
  const known = new Set(['src/a/b.ts', 'src/deps.ts', 'src/a/dir/index.ts', 'src/a/c.ts']);

  test('a relative specifier resolves against the importing file', () => {
    assert.equal(resolveSpecifier('src/a/x.ts', './b.ts', known), 'src/a/b.ts');
    assert.equal(resolveSpecifier('src/a/x.ts', '../deps.ts', known), 'src/deps.ts');
    assert.equal(resolveSpecifier('src/a/x.ts', '../../package.json', known), 'package.json');
    assert.equal(resolveSpecifier('src/a/x.ts', './dir', known), 'src/a/dir/index.ts');
  });

  test('a .js or .mjs specifier names its .ts or .mts source when there is one', () => {
    assert.equal(resolveSpecifier('src/a/x.ts', './c.js', known), 'src/a/c.ts');
    assert.equal(resolveSpecifier('src/a/x.ts', './lib.mjs', known), 'src/a/lib.mjs');
    assert.equal(
      resolveSpecifier('src/a/x.ts', './lib.mjs', new Set(['src/a/lib.mts'])),
      'src/a/lib.mts',
    );
  });

  test('a missing file still resolves to its path, so the rules judge where it points', () => {
    assert.equal(resolveSpecifier('src/core/x.ts', '../settings.ts', new Set()), 'src/settings.ts');
  });

  test('packages and builtins are not files', () => {
    for (const specifier of [
      'hono',
      '@hono/zod-openapi',
      'drizzle-orm/pglite',
      'node:fs',
      'pino-pretty',
    ]) {
      assert.equal(resolveSpecifier('src/a/x.ts', specifier, known), undefined, specifier);
    }
  });

  test('a specifier the test cannot follow is refused rather than skipped', () => {
    for (const specifier of ['#src/deps.ts', '/work/src/deps.ts', 'file:///work/src/deps.ts']) {
      assert.throws(
        () => resolveSpecifier('src/a/x.ts', specifier, known),
        UnfollowableImportError,
        specifier,
      );
    }
  });
});

describe('building the graph from source text', () => {
  test('relative imports become edges to files; packages do not', () => {
    const graph = graphFromSources([
      {
        file: 'src/core/jobs/job-queue.ts',
        text: "import { Queue } from 'bullmq';\nimport type { Deps } from '../../deps.ts';\nexport type Q = Queue | Deps;",
      },
      { file: 'src/deps.ts', text: "export { jobs } from './jobs.js';\nexport type Deps = {};" },
      {
        file: 'src/jobs.ts',
        text: "export const jobs = () => import('./core/jobs/job-queue.ts');",
      },
    ]);
    assert.deepEqual(graph, [
      {
        file: 'src/core/jobs/job-queue.ts',
        imports: [{ target: 'src/deps.ts', typeOnly: true, line: 2 }],
      },
      { file: 'src/deps.ts', imports: [{ target: 'src/jobs.ts', typeOnly: false, line: 1 }] },
      {
        file: 'src/jobs.ts',
        imports: [{ target: 'src/core/jobs/job-queue.ts', typeOnly: false, line: 1 }],
      },
    ]);
    // Every rule sees what the parser found: the type-only import goes up a layer and closes a
    // cycle through a re-export and a dynamic import.
    assert.deepEqual(whereOf(layeringViolations(graph)), [
      'src/core/jobs/job-queue.ts:2 → src/deps.ts',
    ]);
    assert.deepEqual(
      importCycles(graph).map((cycle) => cycle.files),
      [['src/core/jobs/job-queue.ts', 'src/deps.ts', 'src/jobs.ts']],
    );
  });

  test('a module importing another module’s routes, written as source, breaks the boundary', () => {
    const graph = graphFromSources([
      {
        file: 'src/modules/exports/exports.jobs.ts',
        text: "import { type ItemRow } from '../items/items.routes.ts';",
      },
      {
        file: 'src/modules/items/items.routes.ts',
        text: "// import '../exports/exports.jobs.ts';",
      },
    ]);
    assert.deepEqual(whereOf(moduleBoundaryViolations(graph)), [
      'src/modules/exports/exports.jobs.ts:1 → src/modules/items/items.routes.ts',
    ]);
    assert.deepEqual(importCycles(graph), []);
  });
});

describe('rule 1: layering', () => {
  test('each file is in its layer', () => {
    assert.equal(layerOf('src/server.ts'), 'entry point');
    assert.equal(layerOf('src/preload.ts'), 'entry point');
    assert.equal(layerOf('src/deps.ts'), 'app');
    assert.equal(layerOf('src/modules.ts'), 'app');
    assert.equal(layerOf('src/modules/items/items.routes.ts'), 'modules');
    assert.equal(layerOf('src/core/jobs/job-queue.ts'), 'core');
    assert.equal(layerOf('src/lib/helpers.ts'), 'unplaced');
    assert.equal(layerOf('package.json'), 'outside');
  });

  test('imports down the layers, within a layer and out of src/ pass', () => {
    const clean = graphOf({
      'src/server.ts': ['src/app.ts', 'src/core/main.ts', 'src/deps.ts'],
      'src/dev.ts': ['src/server.ts', 'src/worker.ts'],
      'src/app.ts': ['src/modules/items/items.routes.ts', 'src/core/router.ts', 'src/deps.ts'],
      'src/modules/items/items.routes.ts': [
        'src/modules/items/items.service.ts',
        'src/core/route.ts',
      ],
      'src/core/route.ts': ['src/core/problem.ts', 'package.json', '../outside.ts'],
    });
    assert.deepEqual(layeringViolations(clean), []);
  });

  test('every import up a layer fails, type-only ones too', () => {
    const violations = layeringViolations(
      graphOf({
        'src/core/logger.ts': [{ target: 'src/settings.ts', typeOnly: true }],
        'src/core/jobs/run-job.ts': ['src/deps.ts'],
        'src/core/route.ts': ['src/modules/auth/auth.service.ts'],
        'src/core/main.ts': ['src/server.ts'],
        'src/modules/items/items.routes.ts': [{ target: 'src/deps.ts', typeOnly: true }],
        'src/modules/jobs/jobs.routes.ts': ['src/worker.ts'],
        'src/processes.ts': ['src/dev.ts'],
      }),
    );
    assert.deepEqual(whereOf(violations), [
      'src/core/logger.ts:1 → src/settings.ts',
      'src/core/jobs/run-job.ts:1 → src/deps.ts',
      'src/core/route.ts:1 → src/modules/auth/auth.service.ts',
      'src/core/main.ts:1 → src/server.ts',
      'src/modules/items/items.routes.ts:1 → src/deps.ts',
      'src/modules/jobs/jobs.routes.ts:1 → src/worker.ts',
      'src/processes.ts:1 → src/dev.ts',
    ]);
    assert.ok(violations.every((violation) => violation.rule === 'layering'));
  });

  test('the message names the import, the layers and what to do', () => {
    const [coreValue, coreType, moduleValue, app] = layeringViolations(
      graphOf({
        'src/core/main.ts': ['src/settings.ts'],
        'src/core/logger.ts': [{ target: 'src/settings.ts', typeOnly: true }],
        'src/modules/health/health.service.ts': ['src/deps.ts'],
        'src/processes.ts': ['src/server.ts'],
      }),
    ).map((violation) => violation.message);
    assert.match(
      coreValue ?? '',
      /^src\/core\/main\.ts:1 → src\/settings\.ts \[layering: core imports app\]: /,
    );
    assert.match(
      coreValue ?? '',
      /move what main\.ts needs from settings\.ts into src\/core, or have the caller pass it in/,
    );
    assert.match(
      coreType ?? '',
      /\(type-only\) .*move the types logger\.ts needs from settings\.ts into src\/core/,
    );
    assert.match(
      moduleValue ?? '',
      /\[layering: modules imports app\].*take what health\.service\.ts needs from deps\.ts as a parameter/,
    );
    assert.match(
      app ?? '',
      /\[layering: app imports entry point\].*move what processes\.ts needs from server\.ts into a file directly in src\//,
    );
  });

  test('a file under src/ in no layer fails until it is given one', () => {
    const violations = layeringViolations(
      graphOf({ 'src/lib/helpers.ts': ['src/core/ids.ts'], 'src/app.ts': ['src/lib/helpers.ts'] }),
    );
    assert.deepEqual(whereOf(violations), ['src/lib/helpers.ts']);
    assert.match(violations[0]?.message ?? '', /is in no layer.*move it/);
  });
});

describe('rule 2: module boundaries', () => {
  test('another module’s service and schemas, its own files and core pass; tables may reference tables', () => {
    const clean = graphOf({
      'src/modules/exports/exports.jobs.ts': [
        'src/modules/items/items.service.ts',
        { target: 'src/modules/items/items.schemas.ts', typeOnly: true },
        'src/modules/exports/exports.service.ts',
        'src/modules/exports/exports.table.ts',
        'src/core/jobs/define-job.ts',
      ],
      'src/modules/api-keys/api-keys.table.ts': ['src/modules/users/users.table.ts'],
      'src/modules/auth/refresh-tokens.table.ts': ['src/modules/users/users.table.ts'],
      'src/app.ts': ['src/modules/items/items.routes.ts', 'src/modules/admin/queue-dashboard.ts'],
    });
    assert.deepEqual(moduleBoundaryViolations(clean), []);
  });

  test('anything else of another module fails: routes, jobs, tables, manifest, index, internals', () => {
    const violations = moduleBoundaryViolations(
      graphOf({
        'src/modules/exports/exports.jobs.ts': [
          'src/modules/items/items.routes.ts',
          'src/modules/imports/imports.jobs.ts',
          'src/modules/items/items.table.ts',
          'src/modules/items/items.module.ts',
          'src/modules/items/index.ts',
          { target: 'src/modules/auth/authenticator.ts', typeOnly: true },
        ],
        // The table exception is for tables only.
        'src/modules/users/users.table.ts': ['src/modules/auth/auth.routes.ts'],
        'src/modules/users/users.service.ts': ['src/modules/api-keys/api-keys.table.ts'],
      }),
    );
    assert.deepEqual(whereOf(violations), [
      'src/modules/exports/exports.jobs.ts:1 → src/modules/items/items.routes.ts',
      'src/modules/exports/exports.jobs.ts:2 → src/modules/imports/imports.jobs.ts',
      'src/modules/exports/exports.jobs.ts:3 → src/modules/items/items.table.ts',
      'src/modules/exports/exports.jobs.ts:4 → src/modules/items/items.module.ts',
      'src/modules/exports/exports.jobs.ts:5 → src/modules/items/index.ts',
      'src/modules/exports/exports.jobs.ts:6 → src/modules/auth/authenticator.ts',
      'src/modules/users/users.table.ts:1 → src/modules/auth/auth.routes.ts',
      'src/modules/users/users.service.ts:1 → src/modules/api-keys/api-keys.table.ts',
    ]);
    assert.ok(violations.every((violation) => violation.rule === 'module boundary'));
  });

  test('a file directly in src/modules/ belongs to no feature and gets no pass', () => {
    assert.equal(moduleOf('src/modules/items/sub/x.ts'), 'items');
    assert.equal(moduleOf('src/modules/registry.ts'), 'src/modules/registry.ts');
    assert.equal(moduleOf('src/core/x.ts'), undefined);
    const graph = graphOf({ 'src/modules/registry.ts': ['src/modules/items/items.routes.ts'] });
    assert.deepEqual(whereOf(moduleBoundaryViolations(graph)), [
      'src/modules/registry.ts:1 → src/modules/items/items.routes.ts',
    ]);
  });

  test('the message says which module reaches into what, and to use the service instead', () => {
    const [routes, internals] = moduleBoundaryViolations(
      graphOf({
        'src/modules/exports/exports.jobs.ts': ['src/modules/items/items.routes.ts'],
        'src/modules/admin/queue-dashboard.ts': ['src/modules/auth/authenticator.ts'],
      }),
    ).map((violation) => violation.message);
    assert.match(
      routes ?? '',
      /^src\/modules\/exports\/exports\.jobs\.ts:1 → src\/modules\/items\/items\.routes\.ts \[module boundary: exports reaches into the items module's routes\]/,
    );
    assert.match(
      routes ?? '',
      /Import the items service instead of its routes: move what exports\.jobs\.ts needs into the items service or schemas/,
    );
    assert.match(internals ?? '', /the auth module's internals \(authenticator\.ts\)/);
  });
});

describe('rule 3: cycles', () => {
  test('a graph with no cycle passes, diamonds and files outside the graph included', () => {
    const acyclic = graphOf({
      'src/a.ts': ['src/b.ts', 'src/c.ts'],
      'src/b.ts': ['src/d.ts'],
      'src/c.ts': ['src/d.ts', 'src/d.ts'],
      'src/d.ts': ['package.json'],
      // Not in the graph: not a file of src/, so it closes nothing.
      'src/e.ts': ['src/missing.ts'],
    });
    assert.deepEqual(importCycles(acyclic), []);
    assert.deepEqual(cycleViolations(acyclic), []);
  });

  test('two files importing each other are a cycle, closed by one import', () => {
    const [cycle, ...others] = importCycles(
      graphOf({ 'src/a.ts': ['src/b.ts'], 'src/b.ts': ['src/a.ts'] }),
    );
    assert.deepEqual(others, []);
    assert.deepEqual(cycle, {
      files: ['src/a.ts', 'src/b.ts'],
      closingEdges: [
        {
          file: 'src/b.ts',
          target: 'src/a.ts',
          typeOnly: false,
          line: 1,
          cycle: ['src/a.ts', 'src/b.ts', 'src/a.ts'],
        },
      ],
    });
  });

  test('a cycle closed by a type-only import is a cycle', () => {
    const cycles = importCycles(
      graphOf({
        'src/deps.ts': ['src/jobs.ts'],
        'src/jobs.ts': ['src/core/jobs/job-queue.ts'],
        'src/core/jobs/job-queue.ts': [{ target: 'src/deps.ts', typeOnly: true }],
      }),
    );
    assert.deepEqual(
      cycles.map((cycle) =>
        cycle.closingEdges.map((edge) => [edge.file, edge.target, edge.typeOnly]),
      ),
      [[['src/core/jobs/job-queue.ts', 'src/deps.ts', true]]],
    );
  });

  test('a file importing itself is a cycle', () => {
    assert.deepEqual(
      importCycles(graphOf({ 'src/a.ts': ['src/b.ts', 'src/a.ts'], 'src/b.ts': [] })).map(
        (cycle) => cycle.files,
      ),
      [['src/a.ts']],
    );
  });

  test('each strongly connected set of files is one cycle; a file leading into one is not in it', () => {
    const cycles = importCycles(
      graphOf({
        'src/entry.ts': ['src/a.ts', 'src/x.ts'],
        'src/a.ts': ['src/b.ts'],
        'src/b.ts': ['src/c.ts'],
        'src/c.ts': ['src/a.ts', 'src/b.ts'],
        'src/x.ts': ['src/y.ts'],
        'src/y.ts': ['src/x.ts'],
      }),
    );
    assert.deepEqual(
      cycles.map((cycle) => cycle.files),
      [
        ['src/a.ts', 'src/b.ts', 'src/c.ts'],
        ['src/x.ts', 'src/y.ts'],
      ],
    );
  });

  test('removing every closing import leaves no cycle', () => {
    const tangled: Record<string, string[]> = {
      'src/a.ts': ['src/b.ts', 'src/c.ts', 'src/d.ts'],
      'src/b.ts': ['src/c.ts', 'src/a.ts'],
      'src/c.ts': ['src/d.ts', 'src/b.ts'],
      'src/d.ts': ['src/a.ts', 'src/b.ts', 'src/d.ts'],
    };
    const [cycle] = importCycles(graphOf(tangled));
    assert.ok(cycle);
    assert.deepEqual(cycle.files, ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/d.ts']);
    for (const edge of cycle.closingEdges) {
      // Each closing import closes the cycle it names: a path of real imports back to its start.
      assert.equal(edge.cycle.at(0), edge.target);
      assert.equal(edge.cycle.at(-2), edge.file);
      for (const [at, file] of edge.cycle.slice(0, -1).entries()) {
        assert.ok(
          tangled[file]?.includes(edge.cycle[at + 1] ?? ''),
          `${file} does not import ${edge.cycle[at + 1]}`,
        );
      }
    }
    const closing = new Set(cycle.closingEdges.map((edge) => `${edge.file} ${edge.target}`));
    const opened = Object.fromEntries(
      Object.entries(tangled).map(([file, targets]) => [
        file,
        targets.filter((target) => !closing.has(`${file} ${target}`)),
      ]),
    );
    assert.deepEqual(importCycles(graphOf(opened)), []);
  });

  test('an import up a layer is named as closing the cycle, whichever file comes first', () => {
    // job-queue.ts sorts before deps.ts, so a plain depth-first search from it would name
    // deps.ts's import of it instead: the one import that is right.
    const [cycle] = importCycles(
      graphOf({
        'src/core/jobs/job-queue.ts': [{ target: 'src/deps.ts', typeOnly: true }],
        'src/deps.ts': ['src/core/jobs/job-queue.ts'],
      }),
    );
    assert.deepEqual(
      cycle?.closingEdges.map((edge) => [edge.file, edge.target]),
      [['src/core/jobs/job-queue.ts', 'src/deps.ts']],
    );
  });

  test('the message lists the files and the imports that close the cycle, marking the upward one', () => {
    const [violation] = cycleViolations(
      graphOf({
        'src/deps.ts': ['src/jobs.ts'],
        'src/jobs.ts': ['src/core/jobs/job-queue.ts'],
        'src/core/jobs/job-queue.ts': [{ target: 'src/deps.ts', typeOnly: true }],
      }),
    );
    assert.equal(violation?.rule, 'cycle');
    assert.equal(violation?.where, 'src/core/jobs/job-queue.ts, src/deps.ts, src/jobs.ts');
    assert.match(
      violation?.message ?? '',
      /^3 file\(s\) import each other in a cycle \[cycle\]:\n {4}src\/core\/jobs\/job-queue\.ts\n {4}src\/deps\.ts\n {4}src\/jobs\.ts\n/,
    );
    assert.match(
      violation?.message ?? '',
      /\n {4}src\/core\/jobs\/job-queue\.ts:1 → src\/deps\.ts \(type-only\) \(imports upward: remove this one\), closing src\/deps\.ts → src\/jobs\.ts → src\/core\/jobs\/job-queue\.ts → src\/deps\.ts\n/,
    );
    assert.match(violation?.message ?? '', /move what it needs down/);
  });
});
