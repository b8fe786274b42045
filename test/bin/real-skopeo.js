// Shared by the fake skopeo wrappers: find the real skopeo on PATH (skipping this directory) and run it
// with our argv and stdio, exiting as it exits (re-raising its signal).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Runs the real skopeo with `args`; `onExit(code, signal)` runs before this process exits the same way. */
export function execRealSkopeo(name, args, onExit = () => {}) {
  const here = import.meta.dirname;
  const real = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && path.resolve(dir) !== here)
    .map((dir) => path.join(dir, 'skopeo'))
    .find((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  if (!real) {
    process.stderr.write(`${name}: no real skopeo on PATH\n`);
    process.exit(127);
  }
  const child = spawn(real, args, { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    onExit(code, signal);
    if (signal) {
      // Die the same way (our forwarding handlers must not swallow the re-raised signal).
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}
