import { defineConfig } from "vitest/config"

// `npm test` runs both projects; `npm run test:unit` only the fast unit
// tests. The output is one line per test file, and the failures with what
// they logged: passing tests print nothing (`-- --silent=false` shows all
// logs, `-- --reporter=verbose` every test). The end-to-end tests run the built tracker (dist/main.js) against
// a real local control plane and the GitHub simulator, started once per run
// by the global setup; they run one file at a time.
/** Slow tests are not listed one by one (real-time tests take seconds by design). */
const QUIET_SLOW_THRESHOLD_MS = 600_000

export default defineConfig({
  test: {
    silent: "passed-only",
    slowTestThreshold: QUIET_SLOW_THRESHOLD_MS,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/globalSetup.ts"],
          // One file at a time: the files share one control plane.
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 240_000,
          // A cold control-plane build takes many minutes on 2 cores.
          hookTimeout: 3_600_000
        }
      }
    ]
  }
})
