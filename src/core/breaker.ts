/**
 * The circuit breaker of `sync` (pure): after `limit` images in a row the target failed, no more pushes start.
 * Two ways a target fails every image, each with its own count and its own words, because the operator does
 * something different for each: it cannot be reached (network, the registry down, a gateway's 502/503/504), or
 * it is reached and answers with its own server error (HTTP 500, 501, 505-599: a full disk, a broken storage
 * backend), which a reachability breaker alone let run through every image of the night.
 *
 * "In a row" means with no success between: only a success (synced, up to date, drift, immutable-conflict: the
 * target answered sensibly) resets the counts. An image failing for its own reasons (corrupt source, denied,
 * manifest unknown, a 429) neither counts nor resets, and neither do the other kind's failures: a target
 * alternating between the two still trips within 2 × limit - 1 images. A 5xx counts whichever request met it
 * (our HEADs, skopeo's upload, manifest PUT or blob HEAD): the parallel-push race is retried within its image
 * before the breaker sees anything.
 */
import type { SkopeoFailure } from './skopeo-failure.js';

/** What a failure says about the target as a whole, if anything. */
export type TargetTrouble = { kind: 'unreachable' } | { kind: 'server-error'; status: number | undefined };

/** How one image ended, as the breaker sees it. */
export type BreakerOutcome =
  | { kind: 'success' }
  /** Any other result: the image's own failure, an interrupt. */
  | { kind: 'other' }
  /** `message`: the image's reason, secrets already removed. */
  | (TargetTrouble & { message: string });

/** The most of the last failure's text a stop reason quotes (the report keeps each image's whole reason). */
const MAX_QUOTED = 300;

/** The trouble an HTTP status of the target means: 502-504 unreachable, other 5xx a server error, else none (a 429 passes). */
export function troubleOfStatus(status: number): TargetTrouble | undefined {
  if (status === 502 || status === 503 || status === 504) return { kind: 'unreachable' };
  if (status >= 500 && status <= 599) return { kind: 'server-error', status };
  return undefined;
}

/** The trouble a classified skopeo failure means (skopeo-failure.ts decided which failures are the target's). */
export function troubleOfSkopeoFailure(f: Pick<SkopeoFailure, 'reason' | 'message'>): TargetTrouble | undefined {
  if (f.reason === 'unreachable') return { kind: 'unreachable' };
  // The race's 500 is retried first (failureAfterRetries); one that outlasted the retries is a 500 like any other.
  if (f.reason !== 'server-error' && f.reason !== 'parallel-push-race') return undefined;
  const status = /\b(5\d\d)\b/.exec(f.message)?.[1];
  return { kind: 'server-error', status: status === undefined ? undefined : Number(status) };
}

/**
 * A breaker for `target` (what --to names) that trips after `limit` images (0: never). `observe` returns the stop
 * reason each time the count stands at or past the limit (the caller keeps the first), else undefined.
 */
export function createBreaker(limit: number, target: string) {
  let unreachable = 0;
  let unreachableSince: string | undefined;
  let serverErrors = 0;
  const statuses = new Set<number>();
  return {
    /** `now`: an ISO time, the start of an unreachable stretch when this is its first image. */
    observe(o: BreakerOutcome, now: string): string | undefined {
      if (o.kind === 'success') {
        unreachable = serverErrors = 0;
        unreachableSince = undefined;
        statuses.clear();
        return undefined;
      }
      if (o.kind === 'other' || limit <= 0) return undefined;
      if (o.kind === 'unreachable') {
        unreachable++;
        unreachableSince ??= now;
        if (unreachable < limit) return undefined;
        return `${target} has been unreachable since ${unreachableSince} (${unreachable} images in a row); no more pushes were started`;
      }
      serverErrors++;
      if (o.status !== undefined) statuses.add(o.status);
      if (serverErrors < limit) return undefined;
      const codes = statuses.size > 0 ? [...statuses].sort().map((s) => `HTTP ${s}`).join(', ') : 'HTTP 5xx';
      const last = o.message.length > MAX_QUOTED ? `${o.message.slice(0, MAX_QUOTED)}…` : o.message;
      return `${target} answered ${serverErrors} images in a row with a server error (${codes}; last: ${last}); no more pushes were started — check the target's disk and logs`;
    },
  };
}
