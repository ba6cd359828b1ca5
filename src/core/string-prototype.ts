/**
 * Gives `String.prototype` back the fast properties a subclass of `String` takes from it.
 * ioredis declares one (`class VerbatimString extends String`, for RESP3 verbatim strings) as
 * it loads, and V8 turns the parent's prototype into a dictionary when a class extends it,
 * to be made fast again by a later access through an object on its chain; the method calls
 * of string primitives are not such accesses. So for the life of the process, every
 * `text.charCodeAt`, `slice`, `indexOf` in optimised code looked its method up through a
 * generic inline cache instead of reading it as a constant (a function of forty such calls:
 * 330 ns a call against 63 with the prototype fast, decision 131). One new property stored
 * on an object made from the prototype makes it fast; another subclass then leaves it so.
 *
 * Called where ioredis is imported (`redis.ts`), after it has loaded. It can go when ioredis
 * no longer extends `String` (its test then says so) or V8 keeps such a prototype fast.
 */
export function keepStringPrototypeFast(): void {
  const probe: { fastPrototype?: true } = Object.create(String.prototype);
  probe.fastPrototype = true;
}
