#!/usr/bin/env node
// Fake skopeo that never finishes (execa's forever.js): for timeouts and cancellation.
// With SKOPEO_HANG_IGNORE_TERM=1 it also ignores SIGTERM, so only SIGKILL stops it.
if (process.env.SKOPEO_HANG_IGNORE_TERM === '1') process.on('SIGTERM', () => {});
// Output first (a write to a pipe is synchronous), then the pid file: a test that sees the pid file knows the
// output is on its way.
process.stdout.write('hanging\n');
if (process.env.SKOPEO_HANG_PID_FILE) {
  // Written whole or not at all (temp file, then rename): a test polling for the file must never read it empty,
  // or Number('') is 0 and `process.kill(0, 0)` "finds" the test's own process group alive.
  const { renameSync, writeFileSync } = await import('node:fs');
  writeFileSync(`${process.env.SKOPEO_HANG_PID_FILE}.tmp`, String(process.pid));
  renameSync(`${process.env.SKOPEO_HANG_PID_FILE}.tmp`, process.env.SKOPEO_HANG_PID_FILE);
}
setTimeout(() => {}, 1e8);
