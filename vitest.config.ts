import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql has no "exports" map: Node loads its CommonJS index.js for every package, but Vite would give our
    // sources index.mjs, a second copy whose GraphQLError fails graphql-ws's instanceof (socket closed with 4500).
    // Resolve it as Node does so tests run the one copy production runs.
    alias: [{ find: /^graphql$/, replacement: fileURLToPath(new URL("./node_modules/graphql/index.js", import.meta.url)) }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers on port 0; run files in parallel, tests in a file serially.
    fileParallelism: true,
    // Closes what each test registered with onCleanup (test/support/cleanup.ts).
    setupFiles: ["test/support/setup.ts"],
  },
});
