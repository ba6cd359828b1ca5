/** A strong entity tag from a resource's version counter. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** The version an `If-Match` / `If-None-Match` list names, if it names ours. */
function listed(header: string): string[] {
  return header.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
}

/** `If-None-Match`: true when the client's copy is current (answer 304). */
export function isNotModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.trim() === '*' || listed(ifNoneMatch).includes(etag);
}

/**
 * `If-Match`, turned into the version an update must find: undefined when the header is
 * absent or `*` (any version), `null` when it names no version we could have.
 */
export function expectedVersion(ifMatch: string | undefined): number | null | undefined {
  if (!ifMatch || ifMatch.trim() === '*') return undefined;
  const versions = listed(ifMatch)
    .map((tag) => /^"(\d{1,9})"$/.exec(tag)?.[1])
    .filter((version): version is string => version !== undefined);
  // Several tags: any may match, but one version check is all an update can do.
  return versions.length === 1 ? Number(versions[0]) : null;
}
