#!/usr/bin/env node
// Fake skopeo that answers `--version` like 1.9.3 and hangs on anything else: a push that never ends,
// for interrupting a sync. SKOPEO_HANG_PID_FILE receives its pid so a test knows a push is in flight.
if (process.argv.includes('--version')) {
  process.stdout.write('skopeo version 1.9.3\n');
  process.exit(0);
}
// With SKOPEO_HANG_IGNORE_TERM=1 a push also ignores SIGTERM, so an orderly shutdown has to wait for it.
if (process.env.SKOPEO_HANG_IGNORE_TERM === '1') process.on('SIGTERM', () => {});
if (process.env.SKOPEO_HANG_PID_FILE) {
  const { appendFileSync } = await import('node:fs');
  appendFileSync(process.env.SKOPEO_HANG_PID_FILE, `${process.pid}\n`);
}
setTimeout(() => {}, 1e8);
