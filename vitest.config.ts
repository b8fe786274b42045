import { defineConfig } from 'vitest/config';

// CI (.ci/run) sets VITEST_JSON_REPORT to a file path to count passed and failed tests from
// vitest's JSON reporter while running exactly `npm test`.
const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Registries and skopeo are real processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
    ...(jsonReport ? { reporters: ['default', 'json'], outputFile: { json: jsonReport } } : {}),
  },
});
