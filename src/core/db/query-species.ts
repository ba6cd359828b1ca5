/** What this reads of a postgres.js client: a query made and never run. */
interface QueryMaker {
  unsafe(query: string): unknown;
}

/**
 * postgres.js's `Query` (a `Promise` subclass) names `Promise` as its species with a static
 * getter, so that what its `then` makes is a plain promise. While that getter is there,
 * Node 24's V8 never keeps an optimised `Query` constructor: Maglev compiles it and drops the
 * result ("dependency change": a map it took as stable), some 30 times a second under load,
 * for ever, and code that inlines the constructor (`sql.unsafe`) is thrown away with it. The
 * same species as a data property, the class's own properties fast again, leaves both
 * optimised (decision 130). Done on the class, which every client shares; once postgres.js
 * declares it so (or names another species), this finds no such getter and does nothing.
 */
export function declareQuerySpecies(client: QueryMaker): void {
  // Made, never run: postgres.js sends a query only once it is waited on.
  const query = client.unsafe('select 1');
  if (typeof query !== 'object' || query === null) return;
  const queryClass: unknown = Reflect.get(query, 'constructor');
  if (!isClass(queryClass)) return;
  const species = Reflect.getOwnPropertyDescriptor(queryClass, Symbol.species);
  if (!species?.get || !species.configurable || species.get.call(queryClass) !== Promise) return;
  Reflect.defineProperty(queryClass, Symbol.species, { value: Promise, configurable: true });
  // V8 keeps a class with a static accessor in dictionary mode, and replacing the accessor
  // leaves it there: extending the class makes V8 give it fast properties again, as a class
  // declared with the data property has from the start.
  void class extends queryClass {};
}

/** A class, as postgres.js's `Query` is: every function is taken for one, `new` tells. */
function isClass(value: unknown): value is new (...args: never[]) => object {
  return typeof value === 'function';
}
