#!/usr/bin/env node
// Fake skopeo that answers `--version` like 1.9.3 and fails every other call like skopeo does: a logrus fatal
// line on stderr, exit 1. SKOPEO_FATAL_MSG is the message (default: a failure no retry can fix).
if (process.argv.includes('--version')) {
  process.stdout.write('skopeo version 1.9.3\n');
  process.exit(0);
}
const msg = process.env.SKOPEO_FATAL_MSG ?? 'Error copying ref "dir:x": writing manifest: denied: requested access to the resource is denied';
process.stderr.write(`time="2025-01-01T00:00:00Z" level=fatal msg=${JSON.stringify(msg)}\n`);
process.exitCode = 1;
