/**
 * Hands back to the system the memory that starting the process took and no longer needs:
 * one full collection that also shrinks the young generation, which V8 grows to its maximum
 * while the modules load and then keeps until it collects with memory in mind. With it, a
 * young generation sized for load (`--max-semi-space-size=16`: under load, half the
 * scavenges of 8 and about half their time) costs nothing at idle (decision 053).
 *
 * It needs `gc`, which only `--expose-gc` gives (`npm start`, `npm run worker` and the
 * image's NODE_OPTIONS pass it); without it, nothing happens. The collection takes tens of
 * milliseconds: call it once, before the process takes any traffic.
 */
export function releaseStartUpMemory(): boolean {
  if (typeof globalThis.gc !== 'function') return false;
  // 'last-resort' is V8's collection of all that can be freed, new space shrunk included;
  // a regular major collection leaves the young generation at its size.
  globalThis.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return true;
}
