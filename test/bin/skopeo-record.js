#!/usr/bin/env node
// Records its argv as one JSON line in the file named by SKOPEO_RECORD_FILE, then runs the real skopeo
// (first `skopeo` on PATH outside this directory) with the same argv, stdio and exit code.
import { spawn } from 'node:child_process';
import { accessSync, appendFileSync, constants } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const file = process.env.SKOPEO_RECORD_FILE;
if (file) appendFileSync(file, `${JSON.stringify(args)}\n`);

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
  process.stderr.write('skopeo-record: no real skopeo on PATH\n');
  process.exit(127);
}
const child = spawn(real, args, { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal) {
    // Die the same way (our forwarding handlers must not swallow the re-raised signal).
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
