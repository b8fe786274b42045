#!/usr/bin/env node
// Fake skopeo too old for registry-rescue (it needs >= 1.9).
process.stdout.write('skopeo version 1.4.0\n');
