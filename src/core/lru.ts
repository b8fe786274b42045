/**
 * A bounded cache for per-run facts: two generations of at most `max / 2` entries each. A hit in the old
 * generation moves the entry to the young one; when the young generation is full it becomes the old one
 * and the oldest entries are forgotten together. Recently used entries (a base layer shared by many
 * images) stay, like an LRU's, without the delete-and-reinsert an exact LRU pays on every hit.
 */
export class Lru<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #half: number;

  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: K, value: V): void {
    this.#young.set(key, value);
    if (this.#young.size >= this.#half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }

  /** The cached value without making it recent (undefined if not cached). */
  peek(key: K): V | undefined {
    return this.#young.get(key) ?? this.#old.get(key);
  }

  /** Forgets `key` (in both generations). */
  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  /** The cached value, or the one `make` returns (cached). */
  getOrSet(key: K, make: () => V): V {
    let value = this.get(key);
    if (value === undefined) this.set(key, (value = make()));
    return value;
  }
}
