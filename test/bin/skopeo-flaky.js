#!/usr/bin/env node
// Fake skopeo for retry and interrupt tests. `--version` and every other non-sync call run the real skopeo.
// Each `sync` call increments the counter in the file SKOPEO_FLAKY_COUNTER (created if missing); the first
// SKOPEO_FLAKY_FAILURES calls (default 1) print SKOPEO_FLAKY_STDERR (default: the HTTP 500 parallel-push race of
// storage-and-skopeo.md §5.6, as skopeo 1.9.3 logs it) and exit 1, or with SKOPEO_FLAKY_HANG=1 hang until a
// signal; later calls exec the real skopeo with the same argv, stdio and exit code.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { execRealSkopeo } from './real-skopeo.js';

const RACE =
  'time="2025-01-01T00:00:00Z" level=fatal msg="Error copying ref \\"dir:/x/app:1.0\\": trying to reuse blob ' +
  'sha256:3c54a8a8e1a8e2f4f7b1a6c1e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1 at destination: failed to read from ' +
  'destination repository proj/app: 500 (Internal Server Error)"\n';

const args = process.argv.slice(2);

/** Whether this call fails (counting `sync` calls only). */
function failsNow() {
  if (!args.includes('sync')) return false;
  const counter = process.env.SKOPEO_FLAKY_COUNTER;
  if (!counter) {
    process.stderr.write('skopeo-flaky: SKOPEO_FLAKY_COUNTER is not set\n');
    process.exit(2);
  }
  let n = 0;
  try {
    n = Number(readFileSync(counter, 'utf8')) || 0;
  } catch {
    // first call
  }
  n += 1;
  writeFileSync(counter, String(n));
  return n <= Number(process.env.SKOPEO_FLAKY_FAILURES ?? 1);
}

if (!failsNow()) {
  execRealSkopeo('skopeo-flaky', args);
} else if (process.env.SKOPEO_FLAKY_HANG === '1') {
  const pidFile = process.env.SKOPEO_FLAKY_PID_FILE;
  if (pidFile) {
    // Whole or not at all (see skopeo-hang.js): an empty pid file read as pid 0 made `kill(0, 0)` succeed.
    writeFileSync(`${pidFile}.tmp`, String(process.pid));
    renameSync(`${pidFile}.tmp`, pidFile);
  }
  process.stdout.write('hanging\n');
  setTimeout(() => {}, 1e8);
} else {
  process.stderr.write(process.env.SKOPEO_FLAKY_STDERR ?? RACE);
  process.exitCode = 1;
}
