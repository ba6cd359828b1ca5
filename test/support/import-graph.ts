/**
 * The import graph of `src/` and the architecture rules it must keep (docs/architecture.md):
 * layering (entry points → app → modules → core, never upwards), module boundaries (another
 * module only through its service and schemas) and no import cycles.
 *
 * Everything but `readSourceTree` is a pure function over source text or over the graph, so
 * each rule can be proven to fail on a planted violation.
 *
 * @example
 * const graph = graphFromSources(readSourceTree(process.cwd()));
 * const violations = [...layeringViolations(graph), ...cycleViolations(graph)];
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, sep } from 'node:path';
import { parse } from '@babel/parser';

export interface ImportEdge {
  /** Path from the repository root, `/`-separated: `src/core/logger.ts`. */
  target: string;
  /** Erased before the code runs, so it loads nothing; it is still a dependency. */
  typeOnly: boolean;
  line: number;
}

export interface GraphNode {
  file: string;
  imports: ImportEdge[];
}

export type ImportGraph = GraphNode[];

export interface SourceFile {
  /** Path from the repository root, `/`-separated. */
  file: string;
  text: string;
}

/** An import as written: what `from` (or `import(...)`) names, before resolution. */
export interface FoundImport {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

export type Rule = 'layering' | 'module boundary' | 'cycle';

export interface Violation {
  rule: Rule;
  /** `file:line → target` for an import, the files for a cycle. */
  where: string;
  /** What is wrong and what to do about it. */
  message: string;
}

/** An import the graph cannot follow, so no rule could check it. */
export class UnfollowableImportError extends Error {
  override name = 'UnfollowableImportError';
}

// ---------------------------------------------------------------------------------------------
// Reading imports

/** Every `.ts` file under `root/dir`, with paths relative to `root`. */
export function readSourceTree(root: string, dir = 'src'): SourceFile[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((relative) => posix.join(dir, relative.split(sep).join('/')))
    .filter((file) => /\.[cm]?ts$/.test(file))
    .sort()
    .map((file) => ({ file, text: readFileSync(join(root, file), 'utf8') }));
}

/**
 * Every import of a module's source text: import and re-export declarations, `import()`
 * calls, `import('x').T` in types and `import x = require('x')`. The whole tree is walked,
 * not just the top level, so an import nested in a function or a type is not missed; comments
 * and strings are not code and are not read.
 */
export function importsOf(text: string, file: string): FoundImport[] {
  const plugins: ['typescript', { dts: boolean }][] = [
    ['typescript', { dts: file.endsWith('.d.ts') }],
  ];
  let program: unknown;
  try {
    program = parse(text, { sourceType: 'module', plugins, sourceFilename: file }).program;
  } catch (error) {
    throw new Error(`${file} does not parse: ${String(error)}`, { cause: error });
  }
  const found: FoundImport[] = [];
  forEachNode(program, (node) => {
    const imported = importOfNode(node, file);
    if (imported) found.push(imported);
  });
  return found.sort((a, b) => a.line - b.line);
}

type AstNode = { type: string } & Record<string, unknown>;

function isAstNode(value: unknown): value is AstNode {
  return (
    typeof value === 'object' && value !== null && 'type' in value && typeof value.type === 'string'
  );
}

// Positions and comments hold no imports; skipping them keeps the walk to the code.
const NOT_CODE = new Set(['loc', 'extra', 'leadingComments', 'trailingComments', 'innerComments']);

function forEachNode(value: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) forEachNode(item, visit);
    return;
  }
  if (!isAstNode(value)) return;
  visit(value);
  for (const [key, child] of Object.entries(value)) {
    if (!NOT_CODE.has(key) && typeof child === 'object') forEachNode(child, visit);
  }
}

function importOfNode(node: AstNode, file: string): FoundImport | undefined {
  const line = lineOf(node);
  switch (node.type) {
    case 'ImportDeclaration':
      return {
        specifier: literalOf(node.source, file, line),
        typeOnly: isTypeOnly(node),
        line,
      };
    case 'ExportNamedDeclaration':
    case 'ExportAllDeclaration':
      // `export const x = ...` has no source: it is no import.
      if (node.source == null) return undefined;
      return {
        specifier: literalOf(node.source, file, line),
        typeOnly: isTypeOnly(node),
        line,
      };
    case 'ImportExpression':
      return { specifier: literalOf(node.source, file, line), typeOnly: false, line };
    case 'TSImportType':
      return { specifier: literalOf(node.source, file, line), typeOnly: true, line };
    case 'TSExternalModuleReference':
      return { specifier: literalOf(node.expression, file, line), typeOnly: false, line };
    default:
      return undefined;
  }
}

/**
 * `import type` and `export type ... from` only. `import { type A } from './a.ts'` is not:
 * under `verbatimModuleSyntax` it stays as `import {} from './a.ts'` and Node evaluates `a.ts`
 * (`export { type A } from` likewise).
 */
function isTypeOnly(declaration: AstNode): boolean {
  return declaration.importKind === 'type' || declaration.exportKind === 'type';
}

function lineOf(node: AstNode): number {
  const loc = node.loc;
  if (typeof loc === 'object' && loc !== null && 'start' in loc) {
    const start = loc.start;
    if (
      typeof start === 'object' &&
      start !== null &&
      'line' in start &&
      typeof start.line === 'number'
    ) {
      return start.line;
    }
  }
  return 0;
}

/** The specifier a string literal (or a template without `${}`) names. */
function literalOf(source: unknown, file: string, line: number): string {
  if (isAstNode(source)) {
    if (source.type === 'StringLiteral' && typeof source.value === 'string') return source.value;
    const cooked = templateWithoutExpressions(source);
    if (cooked !== undefined) return cooked;
  }
  throw new UnfollowableImportError(
    `${file}:${line} imports a computed specifier, which the architecture test cannot follow: ` +
      'import a string literal (a map of literal `import()` calls if the choice is dynamic).',
  );
}

function templateWithoutExpressions(node: AstNode): string | undefined {
  if (
    node.type !== 'TemplateLiteral' ||
    !Array.isArray(node.expressions) ||
    node.expressions.length > 0
  )
    return undefined;
  const [quasi] = Array.isArray(node.quasis) ? node.quasis : [];
  if (!isAstNode(quasi) || typeof quasi.value !== 'object' || quasi.value === null)
    return undefined;
  return 'cooked' in quasi.value && typeof quasi.value.cooked === 'string'
    ? quasi.value.cooked
    : undefined;
}

// ---------------------------------------------------------------------------------------------
// Resolving

// TypeScript lets `./x.js` name `./x.ts`; Node resolves nothing else, so neither do we.
const SOURCE_EXTENSION_OF: Record<string, string> = {
  '.js': '.ts',
  '.mjs': '.mts',
  '.cjs': '.cts',
};

/**
 * The file a specifier names, as a path from the repository root; `undefined` for a package
 * or a Node builtin, which no rule checks. A relative specifier that names no known file
 * still resolves to its path, so a rule judges it by where it points.
 */
export function resolveSpecifier(
  importer: string,
  specifier: string,
  knownFiles: ReadonlySet<string>,
): string | undefined {
  if (isPackageOrBuiltin(specifier)) return undefined;
  if (!isRelative(specifier)) {
    throw new UnfollowableImportError(
      `${importer} imports '${specifier}', which the architecture test cannot resolve: ` +
        'use a relative path (subpath imports and absolute paths are not followed).',
    );
  }
  const path = posix.normalize(posix.join(posix.dirname(importer), specifier));
  return candidatesFor(path).find((candidate) => knownFiles.has(candidate)) ?? path;
}

function isRelative(specifier: string): boolean {
  return (
    specifier === '.' ||
    specifier === '..' ||
    specifier.startsWith('./') ||
    specifier.startsWith('../')
  );
}

/** `node:fs`, `hono`, `@hono/zod-openapi/x`: not a path, not a URL, not a `#` subpath import. */
function isPackageOrBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return /^(@[\w.-]+\/)?[\w][\w.-]*(\/.*)?$/.test(specifier) && !specifier.includes(':');
}

function candidatesFor(path: string): string[] {
  const extension = posix.extname(path);
  const sourceExtension = SOURCE_EXTENSION_OF[extension];
  if (sourceExtension) return [path, path.slice(0, -extension.length) + sourceExtension];
  if (extension === '') return [`${path}.ts`, `${path}/index.ts`, path];
  return [path];
}

/** The graph of the given files; only relative imports become edges. */
export function graphFromSources(sources: readonly SourceFile[]): ImportGraph {
  const knownFiles = new Set(sources.map((source) => source.file));
  return sources.map(({ file, text }) => ({
    file,
    imports: importsOf(text, file).flatMap(({ specifier, typeOnly, line }) => {
      const target = resolveSpecifier(file, specifier, knownFiles);
      return target === undefined ? [] : [{ target, typeOnly, line }];
    }),
  }));
}

// ---------------------------------------------------------------------------------------------
// Rule 1: layering

export type Layer = 'entry point' | 'app' | 'modules' | 'core';

const LAYER_RANK: Record<Layer, number> = { core: 0, modules: 1, app: 2, 'entry point': 3 };

export const ENTRY_POINTS: ReadonlySet<string> = new Set([
  'src/server.ts',
  'src/worker.ts',
  'src/dev.ts',
  'src/preload.ts',
]);

/** `outside` is not under `src/` (a package.json); `unplaced` is under `src/` but in no layer. */
export function layerOf(file: string): Layer | 'outside' | 'unplaced' {
  if (!file.startsWith('src/')) return 'outside';
  if (ENTRY_POINTS.has(file)) return 'entry point';
  if (!file.slice('src/'.length).includes('/')) return 'app';
  if (file.startsWith('src/core/')) return 'core';
  if (file.startsWith('src/modules/')) return 'modules';
  return 'unplaced';
}

function isLayer(layer: ReturnType<typeof layerOf>): layer is Layer {
  return layer !== 'outside' && layer !== 'unplaced';
}

/** Every import from a lower layer to a higher one, and every `src/` file in no layer. */
export function layeringViolations(graph: ImportGraph): Violation[] {
  return [
    ...unplacedFiles(graph),
    ...graph.flatMap((node) => node.imports.flatMap((edge) => upwardImport(node.file, edge))),
  ];
}

function unplacedFiles(graph: ImportGraph): Violation[] {
  const files = new Set(
    graph.flatMap((node) => [node.file, ...node.imports.map((edge) => edge.target)]),
  );
  return [...files]
    .filter((file) => layerOf(file) === 'unplaced')
    .sort()
    .map((file) => ({
      rule: 'layering',
      where: file,
      message:
        `${file} is in no layer [layering]: move it directly into src/ (app), into src/core/ or ` +
        'into src/modules/<feature>/, or give its folder a layer in test/support/import-graph.ts.',
    }));
}

function upwardImport(file: string, edge: ImportEdge): Violation[] {
  const from = layerOf(file);
  const to = layerOf(edge.target);
  if (!isLayer(from) || !isLayer(to) || !isUpward(from, to)) return [];
  const where = whereOf(file, edge);
  return [
    {
      rule: 'layering',
      where,
      message: `${where}${typeOnlyNote(edge)} [layering: ${from} imports ${to}]: ${layeringAdvice(file, from, edge)}`,
    },
  ];
}

function isUpward(from: Layer, to: Layer): boolean {
  return LAYER_RANK[to] > LAYER_RANK[from];
}

function layeringAdvice(file: string, from: Layer, edge: ImportEdge): string {
  const needs = `${posix.basename(file)} needs from ${posix.basename(edge.target)}`;
  if (from === 'core' && edge.typeOnly) {
    return `src/core must depend on nothing outside it: move the types ${needs} into src/core (or declare there the narrower interface core uses).`;
  }
  if (from === 'core') {
    return `src/core must depend on nothing outside it: move what ${needs} into src/core, or have the caller pass it in as a parameter.`;
  }
  if (from === 'modules' && edge.typeOnly) {
    return `a module must not reach up into the ${layerOf(edge.target)} layer: declare the types ${needs} in src/core (the interface of what modules use), which the app then satisfies.`;
  }
  if (from === 'modules') {
    return `a module must not reach up into the ${layerOf(edge.target)} layer: take what ${needs} as a parameter (from the deps its routes or jobs are given), or move it into src/core.`;
  }
  return `an entry point only starts a process: move what ${needs} into a file directly in src/ that both import.`;
}

// ---------------------------------------------------------------------------------------------
// Rule 2: module boundaries

/** `items` for `src/modules/items/x.ts`; a file directly in `src/modules/` is its own module. */
export function moduleOf(file: string): string | undefined {
  if (!file.startsWith('src/modules/')) return undefined;
  const [name, ...rest] = file.slice('src/modules/'.length).split('/');
  return rest.length > 0 ? name : file;
}

const PUBLIC_FILE = /\.(service|schemas)\.ts$/;
const TABLE_FILE = /\.table\.ts$/;

function mayCrossModules(file: string, target: string): boolean {
  // A table may name another module's table in a foreign key; nothing else may touch it.
  return PUBLIC_FILE.test(target) || (TABLE_FILE.test(file) && TABLE_FILE.test(target));
}

/** Every import of another module's file other than its service or schemas (tables: tables too). */
export function moduleBoundaryViolations(graph: ImportGraph): Violation[] {
  return graph.flatMap((node) => node.imports.flatMap((edge) => boundaryCrossing(node.file, edge)));
}

function boundaryCrossing(file: string, edge: ImportEdge): Violation[] {
  const from = moduleOf(file);
  const to = moduleOf(edge.target);
  if (from === undefined || to === undefined || from === to || mayCrossModules(file, edge.target))
    return [];
  const where = whereOf(file, edge);
  const role = roleOf(edge.target);
  return [
    {
      rule: 'module boundary',
      where,
      message:
        `${where}${typeOnlyNote(edge)} [module boundary: ${from} reaches into the ${to} module's ${role}]: ` +
        `another module may import only the ${to} module's *.service.ts and *.schemas.ts. Import the ` +
        `${to} service instead of its ${role}: move what ${posix.basename(file)} needs into the ${to} ` +
        'service or schemas, or into src/core if it belongs to no module.',
    },
  ];
}

function roleOf(file: string): string {
  const role = /\.(routes|jobs|table)\.ts$/.exec(file)?.[1];
  return role ?? `internals (${posix.basename(file)})`;
}

// ---------------------------------------------------------------------------------------------
// Rule 3: cycles

export interface ClosingEdge extends ImportEdge {
  file: string;
  /** A cycle this import closes, first file repeated last: `[target, …, file, target]`. */
  cycle: string[];
}

export interface ImportCycle {
  /** A strongly connected component: every file here reaches every other one. */
  files: string[];
  /**
   * Imports whose removal leaves no cycle among `files`: first those that go up a layer (they
   * are wrong anyway), then, among the rest, the back edges of a depth-first search.
   */
  closingEdges: ClosingEdge[];
}

type Adjacency = ReadonlyMap<string, readonly ImportEdge[]>;

/** One edge per imported graph file (its first import), files and targets in a stable order. */
function adjacencyOf(graph: ImportGraph): Adjacency {
  const files = new Set(graph.map((node) => node.file));
  const adjacency = new Map<string, ImportEdge[]>();
  for (const node of [...graph].sort((a, b) => compare(a.file, b.file))) {
    const byTarget = new Map<string, ImportEdge>();
    for (const edge of [...node.imports].sort((a, b) => a.line - b.line)) {
      if (!files.has(edge.target)) continue;
      const seen = byTarget.get(edge.target);
      // The pair is type-only only if every import between them is.
      byTarget.set(
        edge.target,
        seen ? { ...seen, typeOnly: seen.typeOnly && edge.typeOnly } : edge,
      );
    }
    adjacency.set(
      node.file,
      [...byTarget.values()].sort((a, b) => compare(a.target, b.target)),
    );
  }
  return adjacency;
}

/** Every import cycle among the graph's files, type-only and dynamic imports included. */
export function importCycles(graph: ImportGraph): ImportCycle[] {
  const adjacency = adjacencyOf(graph);
  return stronglyConnectedComponents(adjacency)
    .map((files) => ({
      files: files.sort(),
      closingEdges: closingEdgesOf(new Set(files), adjacency),
    }))
    .filter((cycle) => cycle.closingEdges.length > 0) // a lone file is a cycle only if it imports itself
    .sort((a, b) => compare(a.files[0] ?? '', b.files[0] ?? ''));
}

/** Tarjan's algorithm. */
function stronglyConnectedComponents(adjacency: Adjacency): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const components: string[][] = [];
  const visit = (file: string): void => {
    const order = index.size;
    index.set(file, order);
    lowLink.set(file, order);
    stack.push(file);
    for (const { target } of adjacency.get(file) ?? []) {
      if (!index.has(target)) visit(target);
      else if (!stack.includes(target)) continue;
      lowLink.set(file, Math.min(lowLink.get(file) ?? order, lowLink.get(target) ?? order));
    }
    if (lowLink.get(file) === order) components.push(stack.splice(stack.indexOf(file)));
  };
  for (const file of adjacency.keys()) if (!index.has(file)) visit(file);
  return components;
}

function closingEdgesOf(files: ReadonlySet<string>, adjacency: Adjacency): ClosingEdge[] {
  const within = (file: string): ImportEdge[] =>
    (adjacency.get(file) ?? []).filter((edge) => files.has(edge.target));
  const upward = [...files].flatMap((file) =>
    within(file)
      .filter((edge) => isUpwardImport(file, edge))
      .map((edge) => ({ file, edge })),
  );
  const rest = (file: string): ImportEdge[] =>
    within(file).filter((edge) => !isUpwardImport(file, edge));
  return [...upward, ...backEdges(files, rest)].map(({ file, edge }) => ({
    ...edge,
    file,
    cycle: [...shortestPath(edge.target, file, within), edge.target],
  }));
}

function isUpwardImport(file: string, edge: ImportEdge): boolean {
  const from = layerOf(file);
  const to = layerOf(edge.target);
  return isLayer(from) && isLayer(to) && isUpward(from, to);
}

/** Imports of a file still on the depth-first path: removing them all leaves no cycle. */
function backEdges(
  files: ReadonlySet<string>,
  edgesOf: (file: string) => ImportEdge[],
): { file: string; edge: ImportEdge }[] {
  const found: { file: string; edge: ImportEdge }[] = [];
  const visited = new Set<string>();
  const onPath = new Set<string>();
  const visit = (file: string): void => {
    visited.add(file);
    onPath.add(file);
    for (const edge of edgesOf(file)) {
      if (onPath.has(edge.target)) found.push({ file, edge });
      else if (!visited.has(edge.target)) visit(edge.target);
    }
    onPath.delete(file);
  };
  for (const file of files) if (!visited.has(file)) visit(file);
  return found;
}

/** `[from, …, to]` along the fewest imports; the caller knows `to` is reachable. */
function shortestPath(from: string, to: string, edgesOf: (file: string) => ImportEdge[]): string[] {
  const previous = new Map<string, string>([[from, from]]);
  const queue = [from];
  for (let file = queue.shift(); file !== undefined && file !== to; file = queue.shift()) {
    for (const { target } of edgesOf(file)) {
      if (previous.has(target)) continue;
      previous.set(target, file);
      queue.push(target);
    }
  }
  const path = [to];
  for (let file = to; file !== from; ) {
    file = previous.get(file) ?? from;
    path.unshift(file);
  }
  return path;
}

export function cycleViolations(graph: ImportGraph): Violation[] {
  return importCycles(graph).map((cycle) => ({
    rule: 'cycle',
    where: cycle.files.join(', '),
    message: describeCycle(cycle),
  }));
}

function upwardNote(edge: ClosingEdge): string {
  return isUpwardImport(edge.file, edge) ? ' (imports upward: remove this one)' : '';
}

function describeCycle(cycle: ImportCycle): string {
  const closing = cycle.closingEdges.map(
    (edge) =>
      `    ${whereOf(edge.file, edge)}${typeOnlyNote(edge)}${upwardNote(edge)}, closing ${edge.cycle.join(' → ')}`,
  );
  return [
    `${cycle.files.length} file(s) import each other in a cycle [cycle]:`,
    ...cycle.files.map((file) => `    ${file}`),
    '  imports that close it (removing all of them breaks it):',
    ...closing,
    '  Break each by removing one import of its cycle, the upward one if there is one: move what ' +
      'it needs down (into src/core, or into the file lower in the cycle) or pass it in as a ' +
      'parameter. Type-only imports count too: move the type down with the code it describes.',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

function whereOf(file: string, edge: ImportEdge): string {
  return `${file}:${edge.line} → ${edge.target}`;
}

function typeOnlyNote(edge: ImportEdge): string {
  return edge.typeOnly ? ' (type-only)' : '';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Violations as one block of text, for an assertion message. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((violation) => violation.message).join('\n');
}
