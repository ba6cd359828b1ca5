import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Scalar's prebuilt browser bundle as a plain file: the Docker image's build stage copies it
 * here from the `@scalar/api-reference` devDependency, so the production install needs none
 * of that package's tree (decision 016). Nothing else writes it; it is never committed.
 */
export const SCALAR_BUNDLE_ASSET = fileURLToPath(
  new URL('../../assets/scalar/standalone.js', import.meta.url),
);

/**
 * The bundle inside the installed `@scalar/api-reference` (a devDependency: present after
 * `npm ci`, absent from a production install), or `undefined` when the package is not there.
 * The Dockerfile copies the same file, `dist/browser/standalone.js`, into the image.
 */
export function scalarBundleInPackage(): string | undefined {
  try {
    return fileURLToPath(
      new URL('./browser/standalone.js', import.meta.resolve('@scalar/api-reference')),
    );
  } catch {
    return undefined;
  }
}

export type BundleLookup =
  | { found: true; path: string; source: 'asset' | 'package' }
  | { found: false; searched: string[] };

export interface BundleCandidates {
  /** The image's copy; default `SCALAR_BUNDLE_ASSET`. */
  asset?: string;
  /** The installed package's file; default `scalarBundleInPackage()`. */
  inPackage?: () => string | undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Where Scalar's browser bundle is: the asset copied into the image when it is there, else
 * the installed devDependency (development, tests), else nowhere, with the places looked at.
 */
export async function locateScalarBundle(candidates: BundleCandidates = {}): Promise<BundleLookup> {
  const asset = candidates.asset ?? SCALAR_BUNDLE_ASSET;
  if (await isFile(asset)) return { found: true, path: asset, source: 'asset' };
  const inPackage = (candidates.inPackage ?? scalarBundleInPackage)();
  if (inPackage !== undefined && (await isFile(inPackage)))
    return { found: true, path: inPackage, source: 'package' };
  return {
    found: false,
    searched: [asset, inPackage ?? '@scalar/api-reference (not installed)'],
  };
}
