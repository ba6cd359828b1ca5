/**
 * `node scripts/prod-deps.ts [--max-packages N] [--max-mb N] [--keep]`: installs the
 * production dependency tree exactly as the Dockerfile does (`npm ci --omit=dev
 * --omit=optional --ignore-scripts`, from package.json and the lockfile of this checkout) in
 * a scratch folder, and prints how many packages it holds, its size on disk and its largest
 * packages. With a limit, it exits 1 when the tree is over it, so CI catches a runtime
 * dependency that pulls a large tree (decision 016). Usage errors exit 2.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** The Dockerfile's production install. */
export const PRODUCTION_INSTALL = [
  'ci',
  '--omit=dev',
  '--omit=optional',
  '--ignore-scripts',
  '--no-audit',
  '--no-fund',
];

export interface PackageSize {
  /** Its folder under the tree's root: `node_modules/a/node_modules/@b/c`. */
  path: string;
  name: string;
  version: string;
  /** Bytes on disk of its own files (nested node_modules not included), like `du`. */
  diskBytes: number;
}

export interface TreeSize {
  packages: PackageSize[];
  diskBytes: number;
  /** Bytes of file content, smaller than on disk. */
  fileBytes: number;
}

interface Size {
  disk: number;
  files: number;
}

/** Bytes on disk (blocks, as `du` counts them) and of content under `path`. */
function sizeOf(path: string, options: { nested: boolean }): Size {
  const stat = lstatSync(path);
  const size = { disk: stat.blocks * 512, files: stat.isFile() ? stat.size : 0 };
  if (!stat.isDirectory()) return size;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' && !options.nested) continue;
    const inner = sizeOf(join(path, entry), options);
    size.disk += inner.disk;
    size.files += inner.files;
  }
  return size;
}

/**
 * Every package installed under `root/node_modules`, as npm records it there
 * (`node_modules/.package-lock.json`: one entry per installed folder, nested copies
 * included), with its size; and the size of the whole folder.
 */
export function measureTree(root: string): TreeSize {
  const lock = JSON.parse(
    readFileSync(join(root, 'node_modules', '.package-lock.json'), 'utf8'),
  ) as { packages: Record<string, { version?: string; name?: string }> };
  const packages = Object.entries(lock.packages)
    .filter(([path]) => path.startsWith('node_modules/'))
    .map(([path, entry]) => ({
      path,
      name: entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version ?? '?',
      diskBytes: sizeOf(join(root, path), { nested: false }).disk,
    }));
  const whole = sizeOf(join(root, 'node_modules'), { nested: true });
  return { packages, diskBytes: whole.disk, fileBytes: whole.files };
}

const MIB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** The report's lines: totals, then the `top` largest packages. */
export function report(tree: TreeSize, top = 10): string[] {
  const largest = [...tree.packages].sort((a, b) => b.diskBytes - a.diskBytes).slice(0, top);
  return [
    `${tree.packages.length} packages, ${mb(tree.diskBytes)} on disk (${mb(tree.fileBytes)} of files)`,
    `largest:`,
    ...largest.map(
      (p) =>
        `  ${mb(p.diskBytes).padStart(9)}  ${p.name}@${p.version}${p.path.split('node_modules/').length > 2 ? `  (${p.path})` : ''}`,
    ),
  ];
}

/** Why `tree` is over the limits, if it is. */
export function overLimits(
  tree: TreeSize,
  limits: { maxPackages?: number; maxMb?: number },
): string[] {
  const problems: string[] = [];
  if (limits.maxPackages !== undefined && tree.packages.length > limits.maxPackages)
    problems.push(`${tree.packages.length} packages, more than ${limits.maxPackages}`);
  if (limits.maxMb !== undefined && tree.diskBytes > limits.maxMb * MIB)
    problems.push(`${mb(tree.diskBytes)} on disk, more than ${limits.maxMb} MiB`);
  return problems;
}

function usage(message: string): never {
  console.error(
    `${message}\nusage: node scripts/prod-deps.ts [--max-packages N] [--max-mb N] [--keep]`,
  );
  process.exit(2);
}

function limit(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    usage(`${flag} takes a positive number, not "${value}"`);
  return number;
}

if (import.meta.main) {
  const options = {
    'max-packages': { type: 'string' },
    'max-mb': { type: 'string' },
    keep: { type: 'boolean' },
  } as const;
  let args: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
  try {
    args = parseArgs({ options }).values;
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const limits = {
    maxPackages: limit(args['max-packages'], '--max-packages'),
    maxMb: limit(args['max-mb'], '--max-mb'),
  };

  const root = new URL('..', import.meta.url).pathname;
  const scratch = mkdtempSync(join(tmpdir(), 'prod-deps-'));
  try {
    for (const file of ['package.json', 'package-lock.json'])
      copyFileSync(join(root, file), join(scratch, file));
    console.log(`npm ${PRODUCTION_INSTALL.join(' ')} (as the Dockerfile), in ${scratch}`);
    const install = spawnSync('npm', [...PRODUCTION_INSTALL, '--loglevel=error'], {
      cwd: scratch,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (install.status !== 0) {
      console.error(`npm ci failed (exit ${install.status ?? install.signal})`);
      process.exitCode = 1;
    } else {
      const tree = measureTree(scratch);
      for (const line of report(tree)) console.log(line);
      const problems = overLimits(tree, limits);
      if (problems.length > 0) {
        console.error(
          `The production install is too large: ${problems.join('; ')}. A runtime dependency that only development or the build needs belongs in devDependencies (docs/decisions/016).`,
        );
        process.exitCode = 1;
      } else if (limits.maxPackages !== undefined || limits.maxMb !== undefined) {
        console.log('Within the limits.');
      }
    }
  } finally {
    if (args.keep) console.log(`kept ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
}
