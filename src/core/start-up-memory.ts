/**
 * Hands back to the system the memory that starting the process took and no longer needs:
 * one collection of all that can be freed, which also shrinks the young generation V8 grew
 * while the modules loaded and would otherwise keep until it next collects with memory in
 * mind. About 25 MB less held at idle (decision 053). The worker calls it before its first
 * job; the API makes the same collection at its first quiet moment (decision 070).
 *
 * It needs `gc`, which only `--expose-gc` gives (`npm start`, `npm run worker` and the
 * image's NODE_OPTIONS pass it); without it, nothing happens. The collection takes tens of
 * milliseconds: call it once, before the process takes any traffic.
 */
export function releaseStartUpMemory(): boolean {
  const collect = lastResortCollection();
  collect?.();
  return collect !== undefined;
}

/** V8's collection of all that can be freed, when `gc` exists (`--expose-gc`). */
export function lastResortCollection(): (() => void) | undefined {
  const { gc } = globalThis;
  if (typeof gc !== 'function') return undefined;
  return () => {
    // A tick waits in Node's queue through the collection. With none alive, the collection
    // frees the shapes of Node's tick objects, and `process.nextTick` builds each one after
    // it through V8's slow path for good: 300 ns a call instead of 40, some 7 calls a request
    // (decision 109). Node's and V8's to mend; this can go when a collection no longer does it.
    process.nextTick(keepTickShapes);
    // 'last-resort' shrinks new space too; a regular major collection leaves the young
    // generation at its size.
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  };
}

function keepTickShapes(): void {}
