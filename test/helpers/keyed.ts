/** runKeyed hands results over one by one; small tests want them all, in arrival order. */
import { runKeyed, type KeyedResult, type RunKeyedOptions } from '../../src/core/schedule.js';

export async function collectKeyed<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  opts: RunKeyedOptions<T>,
  worker: (item: T) => Promise<R>,
  onResult?: (result: KeyedResult<T, R>) => void,
): Promise<KeyedResult<T, R>[]> {
  const results: KeyedResult<T, R>[] = [];
  await runKeyed(items, opts, worker, (r) => {
    results[r.index] = r;
    onResult?.(r);
  });
  return results;
}
