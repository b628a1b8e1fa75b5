import { defineConfig } from "vitest/config"

// Two projects so the fast unit tests can run alone (`npm run test:unit`)
// while `npm test` runs everything, including the end-to-end tests against
// the real local control plane once they exist.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 20_000
        }
      }
    ]
  }
})
