/**
 * Fan-out for pushes (style guide §6): at most `concurrency` workers, and never two items with the same
 * key (the target repository) at once, because parallel pushes of one new blob into one repository hit
 * an HTTP 500 race (storage-and-skopeo.md §5.6). No I/O here: workers do it.
 */
import pLimit from 'p-limit';

interface Base<T> {
  item: T;
  key: string;
  /** Arrival order of the item (0-based). */
  index: number;
}

/** What became of one item: the worker's value, what it threw, or never started because of an abort. */
export type KeyedResult<T, R> =
  | (Base<T> & { status: 'done'; value: R })
  | (Base<T> & { status: 'failed'; error: unknown })
  | (Base<T> & { status: 'canceled' });

export interface RunKeyedOptions<T> {
  /** Most workers at once (>= 1). */
  concurrency: number;
  /** Items with equal keys never run at the same time; they run in arrival order. */
  keyOf(item: T): string;
  /** On abort no new item starts; running ones finish (workers cancel themselves through the same signal). */
  signal?: AbortSignal;
  /**
   * Items taken from an async iterable but not yet finished, at most (default 64 × concurrency): the source is
   * pulled only as fast as work gets done, so memory stays bounded however long the input. Large enough to
   * find other keys when many items in a row share one (a repository's tags arrive together).
   */
  maxPending?: number;
}

interface Entry<T> extends Base<T> {
  state: 'waiting' | 'queued' | 'running' | 'finished';
}

/**
 * Runs `worker` over `items` (an array, or an async iterable whose items start as soon as they arrive) and
 * hands one result per item seen to `onResult` as each finishes (for an array: one per item; an async
 * iterable is no longer pulled after an abort); `index` is the item's arrival order. Nothing is collected.
 * Worker errors become `failed` results; an error thrown by the iterable (or by `onResult`) is rethrown
 * once every started worker has settled.
 */
export async function runKeyed<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  opts: RunKeyedOptions<T>,
  worker: (item: T) => Promise<R>,
  onResult: (result: KeyedResult<T, R>) => void,
): Promise<void> {
  const { signal } = opts;
  const limit = pLimit(opts.concurrency);
  const maxPending = opts.maxPending ?? 64 * opts.concurrency;
  /** Entries not yet finished (for an abort to cancel those still waiting). */
  const entries = new Set<Entry<T>>();
  let count = 0;
  let roomFreed: () => void = () => {};
  /** Per key: the entries not yet handed to p-limit; a key is present while one of its entries is active. */
  const waiting = new Map<string, Entry<T>[]>();
  let unfinished = 0;
  let inputDone = false;
  let thrown: { error: unknown } | undefined;
  let wakeUp: () => void = () => {};
  const idle = new Promise<void>((resolve) => (wakeUp = resolve));

  const finish = (entry: Entry<T>, result: KeyedResult<T, R>): void => {
    if (entry.state === 'finished') return;
    entry.state = 'finished';
    entries.delete(entry);
    unfinished--;
    roomFreed();
    try {
      onResult(result);
    } catch (error) {
      thrown ??= { error };
    }
    if (inputDone && unfinished === 0) wakeUp();
  };
  const cancel = (entry: Entry<T>): void =>
    finish(entry, { item: entry.item, key: entry.key, index: entry.index, status: 'canceled' });
  const stopped = (): boolean => Boolean(signal?.aborted) || thrown !== undefined;

  const release = (key: string): void => {
    const queue = waiting.get(key) ?? [];
    let next = queue.shift();
    while (next?.state === 'finished') next = queue.shift(); // canceled while waiting
    if (next) submit(next);
    else waiting.delete(key);
  };
  const submit = (entry: Entry<T>): void => {
    entry.state = 'queued';
    void limit(async () => {
      if (entry.state !== 'queued' || stopped()) {
        cancel(entry);
      } else {
        entry.state = 'running';
        const base = { item: entry.item, key: entry.key, index: entry.index };
        try {
          finish(entry, { ...base, status: 'done', value: await worker(entry.item) });
        } catch (error) {
          finish(entry, { ...base, status: 'failed', error });
        }
      }
      release(entry.key);
    });
  };
  const add = (item: T): void => {
    const entry: Entry<T> = { item, key: opts.keyOf(item), index: count++, state: 'waiting' };
    entries.add(entry);
    unfinished++;
    if (stopped()) return cancel(entry);
    const queue = waiting.get(entry.key);
    if (queue) queue.push(entry);
    else {
      waiting.set(entry.key, []);
      submit(entry);
    }
  };
  // Report everything not yet running as canceled right away, not when a slot frees up.
  const onAbort = (): void => {
    for (const entry of entries) if (entry.state === 'waiting' || entry.state === 'queued') cancel(entry);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  // Resolves once fewer than maxPending items are unfinished (at once when that is already so).
  const room = (): Promise<void> =>
    unfinished < maxPending || stopped() ? Promise.resolve() : new Promise<void>((resolve) => (roomFreed = () => unfinished < maxPending && resolve()));
  try {
    await consume(items, signal, add, room);
  } catch (error) {
    thrown ??= { error };
    onAbort();
  } finally {
    inputDone = true;
    if (unfinished === 0) wakeUp();
  }
  await idle;
  signal?.removeEventListener('abort', onAbort);
  if (thrown) throw thrown.error;
}

/** Feeds items to `add` as they arrive; stops pulling from an async iterable on abort (and closes it). */
async function consume<T>(
  items: Iterable<T> | AsyncIterable<T>,
  signal: AbortSignal | undefined,
  add: (item: T) => void,
  room: () => Promise<void>,
): Promise<void> {
  if (Symbol.iterator in items) {
    // Every item is known up front, so each gets a result (`add` cancels them after an abort).
    for (const item of items) add(item);
    return;
  }
  const iterator = items[Symbol.asyncIterator]();
  const aborted = abortPromise(signal);
  try {
    for (;;) {
      if (!signal?.aborted) await Promise.race([room(), aborted.promise]);
      if (signal?.aborted) break;
      const next = iterator.next();
      const step = await Promise.race([next, aborted.promise]);
      if (step === ABORTED) {
        next.catch(() => {}); // the producer may still fail; nobody is listening any more
        break;
      }
      if (step.done) return;
      add(step.value);
    }
    // Abandoned mid-way: let a generator run its finally blocks, without waiting for it.
    iterator.return?.().catch(() => {});
  } finally {
    aborted.dispose();
  }
}

const ABORTED = Symbol('aborted');

function abortPromise(signal: AbortSignal | undefined): { promise: Promise<typeof ABORTED>; dispose(): void } {
  let dispose = (): void => {};
  const promise = new Promise<typeof ABORTED>((resolve) => {
    if (!signal) return;
    const listener = (): void => resolve(ABORTED);
    signal.addEventListener('abort', listener, { once: true });
    dispose = () => signal.removeEventListener('abort', listener);
  });
  return { promise, dispose: () => dispose() };
}

export interface RetryOptions<R> {
  /** Extra attempts after the first (0 = no retry). */
  retries: number;
  /** True when this result is a failure worth another try (e.g. the §5.6 race, an expired token). */
  isTransient(value: R): boolean;
  /** Delay before retry n is `baseMs * 2^(n-1)`, at most `maxMs` (default 30 s). */
  baseMs: number;
  maxMs?: number;
  /** On abort no further attempt starts; the last result is returned. */
  signal?: AbortSignal;
  /** A number in [0, 1) (Math.random at the call site): each delay is scaled into [50%, 100%] so retries of many images spread out. */
  random?: () => number;
}

/**
 * Calls `fn` until its result is not transient, retries run out or `signal` aborts; returns the last result
 * and how many attempts were made. Thrown errors are not retried (workers return failures as data).
 */
export async function retryWithBackoff<R>(
  fn: (attempt: number) => Promise<R>,
  opts: RetryOptions<R>,
): Promise<{ value: R; attempts: number }> {
  const maxMs = opts.maxMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    const value = await fn(attempt);
    if (attempt > opts.retries || !opts.isTransient(value) || opts.signal?.aborted) return { value, attempts: attempt };
    const jitter = opts.random ? 0.5 + opts.random() / 2 : 1;
    const delay = Math.round(Math.min(opts.baseMs * 2 ** (attempt - 1), maxMs) * jitter);
    if (!(await sleep(delay, opts.signal))) return { value, attempts: attempt };
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
