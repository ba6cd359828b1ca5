/**
 * `npm run k8s:generate`: writes deploy/kubernetes (a kustomize base and the dev and prod
 * overlays) from scripts/kubernetes, after checking every object against the Kubernetes
 * schemas. `--check` writes nothing and fails when the committed files differ.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { MANIFESTS_DIR, manifestFiles, renderOverlay } from './kustomize.ts';
import { OVERLAYS } from './overlays.ts';
import { validateManifest } from './validation.ts';

/** Every file under `directory`, relative to it, with its content (none if it is missing). */
export function committedFiles(directory: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(directory)) return files;
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(directory, path), readFileSync(path, 'utf8'));
  }
  return files;
}

/** The paths that differ between what is committed and what the code generates. */
export function drift(directory = MANIFESTS_DIR): string[] {
  const expected = manifestFiles();
  const actual = committedFiles(directory);
  const paths = new Set([...expected.keys(), ...actual.keys()]);
  return [...paths].filter((path) => expected.get(path) !== actual.get(path)).sort();
}

if (import.meta.main) {
  for (const overlay of OVERLAYS)
    for (const manifest of renderOverlay(overlay)) validateManifest(manifest);
  if (process.argv.includes('--check')) {
    const differing = drift();
    if (differing.length > 0) {
      console.error(
        `${MANIFESTS_DIR} differs from the code in: ${differing.join(', ')}; run npm run k8s:generate`,
      );
      process.exit(1);
    }
    console.log(`${MANIFESTS_DIR} matches the code.`);
  } else {
    rmSync(MANIFESTS_DIR, { recursive: true, force: true });
    for (const [path, content] of manifestFiles()) {
      const file = join(MANIFESTS_DIR, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    console.log(`${MANIFESTS_DIR} written.`);
  }
}
