/** Streaming bounded concurrency: results are yielded as they finish, the source is pulled only as fast as it is consumed. */
export async function* mapConcurrent<T, R>(source: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const running = new Map<number, Promise<{ key: number; result: R }>>();
  let next = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && running.size < limit) {
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          break;
        }
        const key = next++;
        running.set(key, fn(step.value).then((result) => ({ key, result })));
      }
      if (running.size === 0) return;
      const { key, result } = await Promise.race(running.values());
      running.delete(key);
      yield result;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
    // Let work already started settle so nothing runs on after the consumer stopped.
    await Promise.allSettled(running.values());
  }
}

/**
 * Like mapConcurrent, but yields results in the order of `source`: at most `limit` items are in flight, and
 * a finished item waits for the ones before it. Output stays ordered without collecting and sorting.
 */
export async function* mapOrdered<T, R>(source: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const window: Promise<R>[] = [];
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && window.length < limit) {
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          break;
        }
        const p = fn(step.value);
        // Rejections surface when the item reaches the head; until then, do not report them as unhandled.
        p.catch(() => {});
        window.push(p);
      }
      const head = window.shift();
      if (head === undefined) return;
      yield await head;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
    await Promise.allSettled(window);
  }
}
