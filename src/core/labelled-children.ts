import type { Histogram } from 'prom-client';

type Labels = 'method' | 'route' | 'status';
type Child = ReturnType<Histogram<Labels>['labels']>;

/**
 * A histogram's children by method, route and status, looked up once per combination: an
 * `observe` with a label object looks its series up each time, which costs some 25 times the
 * observation itself (decision 083). The combinations are bounded by the routes and statuses
 * the app answers with ('unmatched' stands for any path no route matched).
 */
export class LabelledChildren {
  readonly #histogram: Histogram<Labels>;
  /**
   * By method, then status, then route: no key text put together and hashed per request, as
   * one key of the three would be (decision 092).
   */
  readonly #children = new Map<string, Map<number, Map<string, Child>>>();

  constructor(histogram: Histogram<Labels>) {
    this.#histogram = histogram;
  }

  get(method: string, route: string, status: number): Child {
    const byRoute = mapAt(mapAt(this.#children, method), status);
    let child = byRoute.get(route);
    if (!child) {
      child = this.#histogram.labels({ method, route, status: String(status) });
      byRoute.set(route, child);
    }
    return child;
  }
}

/** The map kept in `maps` under `key`, made empty the first time. */
function mapAt<K, L, V>(maps: Map<K, Map<L, V>>, key: K): Map<L, V> {
  let map = maps.get(key);
  if (!map) {
    map = new Map();
    maps.set(key, map);
  }
  return map;
}
