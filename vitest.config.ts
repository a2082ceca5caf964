import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers on port 0; run files in parallel, tests in a file serially.
    fileParallelism: true,
  },
});
