#!/usr/bin/env node
// Records its argv as one JSON line in the file named by SKOPEO_RECORD_FILE, then runs the real skopeo
// (first `skopeo` on PATH outside this directory) with the same argv, stdio and exit code.
// With SKOPEO_RECORD_DETAILS_FILE set it also appends to that file, per call, one JSON line when it starts:
// { event: "start", at: ms since epoch, argv, pid, authFiles: [{ flag, path, exists, mode }], env:
// { REGISTRY_RESCUE_USERNAME, REGISTRY_RESCUE_PASSWORD, REGISTRY_AUTH_FILE: true when set } } and one when the real
// skopeo has exited: { event: "end", at, pid, code }. Tests prove with it that the auth file skopeo got was
// private (mode "600"), that no password travelled in the environment, and which pushes overlapped in time.
// It never records a variable's value.
import { spawn } from 'node:child_process';
import { accessSync, appendFileSync, constants, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const file = process.env.SKOPEO_RECORD_FILE;
if (file) appendFileSync(file, `${JSON.stringify(args)}\n`);
const details = process.env.SKOPEO_RECORD_DETAILS_FILE;
if (details) {
  const authFiles = [];
  args.forEach((arg, i) => {
    const m = /^(--(?:dest-|src-)?authfile)(?:=(.*))?$/.exec(arg);
    if (!m) return;
    const value = m[2] ?? args[i + 1];
    if (value === undefined) return;
    let info = { exists: false, mode: null };
    try {
      const s = statSync(value);
      info = { exists: true, mode: (s.mode & 0o777).toString(8) };
    } catch {
      // recorded as missing
    }
    authFiles.push({ flag: m[1], path: value, ...info });
  });
  const env = Object.fromEntries(
    ['REGISTRY_RESCUE_USERNAME', 'REGISTRY_RESCUE_PASSWORD', 'REGISTRY_AUTH_FILE'].map((k) => [k, process.env[k] !== undefined]),
  );
  appendFileSync(details, `${JSON.stringify({ event: 'start', at: Date.now(), argv: args, pid: process.pid, authFiles, env })}\n`);
}

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
  if (details) appendFileSync(details, `${JSON.stringify({ event: 'end', at: Date.now(), pid: process.pid, code, signal })}\n`);
  if (signal) {
    // Die the same way (our forwarding handlers must not swallow the re-raised signal).
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
