import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ when sources changed: tests that start the `tubular` command run the compiled code.
    globalSetup: ["test/helpers/build-dist.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Integration tests start real processes and sockets; two workers fit the 2-core machine.
    maxWorkers: 2,
  },
});
