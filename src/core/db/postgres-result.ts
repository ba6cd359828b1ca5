/**
 * Stands in for postgres.js's own `src/result.js` (3.4.9): the array of a statement's rows
 * that every query resolves with, carrying the statement's facts beside them (`count`,
 * `command`, `state`, `columns`, `statement`), which postgres.js sets and its callers read
 * as properties, none of them an element, a key or a JSON member. Loaded in its place by the
 * resolve hook of `src/preload.ts` and by the bundle's build (`scripts/build.ts`); postgres.js
 * itself never imports this file by this name. Decision 128.
 *
 * The original defines the five on each result with `Object.defineProperties` in an explicit
 * constructor, beside a `Symbol.species` getter; V8 (Node 24) never optimises that
 * constructor: every compile of it is abandoned for a changed dependency and started again,
 * some fifty times a second under load, and each result took 2.6-2.8 µs to make, against
 * 0.3 µs here, where they are private fields behind accessors of the prototype (as the
 * original's, never enumerated) and the constructor is the implicit one.
 */
export default class Result extends Array<unknown> {
  #count: number | null = null;
  #state: unknown = null;
  #command: string | null = null;
  #columns: unknown = null;
  #statement: unknown = null;

  /** Rows the statement affected or returned, from PostgreSQL's command tag. */
  get count(): number | null {
    return this.#count;
  }
  set count(value: number | null) {
    this.#count = value;
  }

  /** The connection's backend (its process id and secret), as postgres.js reads it. */
  get state(): unknown {
    return this.#state;
  }
  set state(value: unknown) {
    this.#state = value;
  }

  /** The command tag's verb: `SELECT`, `INSERT`, … */
  get command(): string | null {
    return this.#command;
  }
  set command(value: string | null) {
    this.#command = value;
  }

  /** The rows' columns, as described by PostgreSQL. */
  get columns(): unknown {
    return this.#columns;
  }
  set columns(value: unknown) {
    this.#columns = value;
  }

  /** The prepared statement that ran: its name, text, parameter types and columns. */
  get statement(): unknown {
    return this.#statement;
  }
  set statement(value: unknown) {
    this.#statement = value;
  }

  /** What `map`, `filter`, `slice` … make of a result: a plain array, as the original's. */
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
}
