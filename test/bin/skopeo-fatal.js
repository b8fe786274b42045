#!/usr/bin/env node
// Fake skopeo that fails like skopeo 1.9.3: a logrus fatal line on stderr, exit 1 (storage-and-skopeo.md §5.8).
// SKOPEO_FATAL_MSG is the msg text (quoted like logrus' %q); SKOPEO_FATAL_STDERR, if set, is printed verbatim instead.
const verbatim = process.env.SKOPEO_FATAL_STDERR;
const msg = process.env.SKOPEO_FATAL_MSG ?? 'fake failure';
process.stderr.write(verbatim ?? `time="2025-01-01T00:00:00Z" level=fatal msg=${JSON.stringify(msg)}\n`);
process.exitCode = 1;
