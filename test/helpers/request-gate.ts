/**
 * For a loopback server that counts how many requests a client keeps in flight: each answer is held until `n` are
 * held at once (or `idleMs` passes with fewer, the last ones), then all are answered together. A client keeping
 * fewer than `n` in flight never fills the gate, and `most` says how many it did keep.
 */
export interface RequestGate {
  /** Holds `answer` (which writes the response) until the gate opens. */
  hold(answer: () => void): void;
  /** The most requests held at once so far. */
  readonly most: number;
  /** Clears the idle timer (call when the server stops). */
  stop(): void;
}

export function requestGate(n: number, idleMs: number): RequestGate {
  let open = 0;
  let most = 0;
  let held: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    const now = held;
    held = [];
    for (const answer of now) answer();
  };
  return {
    hold(answer) {
      open++;
      most = Math.max(most, open);
      held.push(() => {
        open--;
        answer();
      });
      clearTimeout(timer);
      if (held.length >= n) release();
      else timer = setTimeout(release, idleMs);
    },
    get most() {
      return most;
    },
    stop: () => clearTimeout(timer),
  };
}
