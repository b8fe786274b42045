/**
 * The default per-image timeout of a push (`--image-timeout` unset). It used to be a flat 60 minutes: a skopeo
 * hung on a dead connection (Go's HTTP client has no overall deadline on an upload) then held one of the
 * --concurrency slots for an hour per attempt, three hours per image with the default retries, while a real
 * push of a typical 100–500 MB image takes seconds to a few minutes. The default now follows the image:
 * a fixed allowance for skopeo's start, authentication and the manifests, plus the image's bytes at a floor
 * throughput that a DR link shared by the default 4 pushes still exceeds (1 MiB/s each, about 34 Mbit/s in all).
 * A 200 MiB image gets ~13 minutes, a 2 GiB one ~44, a 20 GiB one ~6 hours. Bytes the target already holds are
 * not uploaded again, so this is an upper bound on what a push has to send. Slower links: pass --image-timeout.
 */

/** Allowance of every push, whatever its size: skopeo's start, the token, blob checks and the manifests. */
export const IMAGE_TIMEOUT_BASE_MS = 10 * 60_000;
/** The slowest upload a healthy push is expected to keep up, per push. */
export const IMAGE_TIMEOUT_FLOOR_BYTES_PER_S = 1024 * 1024;

/** The default timeout of one push attempt of an image of `bytes` (every blob and manifest of its layout). */
export function defaultImageTimeoutMs(bytes: number): number {
  const size = Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  return IMAGE_TIMEOUT_BASE_MS + Math.ceil((size / IMAGE_TIMEOUT_FLOOR_BYTES_PER_S) * 1000);
}
