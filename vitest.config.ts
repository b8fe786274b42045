import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Registries and skopeo are real processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
