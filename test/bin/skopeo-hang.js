#!/usr/bin/env node
// Fake skopeo that never finishes (execa's forever.js): for timeouts and cancellation.
// With SKOPEO_HANG_IGNORE_TERM=1 it also ignores SIGTERM, so only SIGKILL stops it.
if (process.env.SKOPEO_HANG_IGNORE_TERM === '1') process.on('SIGTERM', () => {});
if (process.env.SKOPEO_HANG_PID_FILE) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.SKOPEO_HANG_PID_FILE, String(process.pid));
}
process.stdout.write('hanging\n');
setTimeout(() => {}, 1e8);
