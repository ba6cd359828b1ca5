/**
 * Whether `value` is an object of fields, as `JSON.parse` makes them (or `{}` and
 * `Object.create(null)` do): not an array, a class instance, a `Date` or `null`.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
