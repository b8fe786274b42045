#!/usr/bin/env node
// Fake skopeo that never finishes (execa's forever.js): for timeouts and cancellation.
// With SKOPEO_HANG_IGNORE_TERM=1 it also ignores SIGTERM, so only SIGKILL stops it.
if (process.env.SKOPEO_HANG_IGNORE_TERM === '1') process.on('SIGTERM', () => {});
// Output first (a write to a pipe is synchronous), then the pid file: a test that sees the pid file knows the
// output is on its way.
process.stdout.write('hanging\n');
if (process.env.SKOPEO_HANG_PID_FILE) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.SKOPEO_HANG_PID_FILE, String(process.pid));
}
setTimeout(() => {}, 1e8);
