/**
 * The child processes running now (skopeo). A run ended at once (a second Ctrl-C) exits without waiting for
 * them, and execa's exit clean-up only sends SIGTERM: one that ignores it would outlive the run, still pushing.
 * Apart from skopeo.ts so that cli.ts can reach it without loading execa for every command.
 */
const running = new Set<{ kill(signal: NodeJS.Signals): boolean }>();

/** Tracks a started child; returns the function that forgets it (call it when the child ends). */
export function trackChild(child: { kill(signal: NodeJS.Signals): boolean }): () => void {
  running.add(child);
  return () => void running.delete(child);
}

/** Kills every tracked child outright (SIGKILL): for a run that must end now. */
export function killRunningChildren(): void {
  for (const p of running) p.kill('SIGKILL');
}
