#!/usr/bin/env node
// Records its argv as one JSON line in the file named by SKOPEO_RECORD_FILE, then runs the real skopeo
// (first `skopeo` on PATH outside this directory) with the same argv, stdio and exit code.
// With SKOPEO_RECORD_DETAILS_FILE set it also appends to that file, per call, one JSON line when it starts:
// { event: "start", at: ms since epoch, argv, pid, authFiles: [{ flag, path, exists, mode }], env:
// { REGISTRY_RESCUE_USERNAME, REGISTRY_RESCUE_PASSWORD, REGISTRY_AUTH_FILE: true when set } } and one when the real
// skopeo has exited: { event: "end", at, pid, code }. Tests prove with it that the auth file skopeo got was
// private (mode "600"), that no password travelled in the environment, and which pushes overlapped in time.
// It never records a variable's value.
// With SKOPEO_RECORD_DELAY_MS set, each `sync` call waits that long (after its start line) before running the real
// skopeo: pushes that the caller runs in parallel then overlap for certain.
import { appendFileSync, statSync } from 'node:fs';
import { execRealSkopeo } from './real-skopeo.js';

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

const run = () =>
  execRealSkopeo('skopeo-record', args, (code, signal) => {
    if (details) appendFileSync(details, `${JSON.stringify({ event: 'end', at: Date.now(), pid: process.pid, code, signal })}\n`);
  });
const delay = Number(process.env.SKOPEO_RECORD_DELAY_MS ?? 0);
if (delay > 0 && args.includes('sync')) setTimeout(run, delay);
else run();
