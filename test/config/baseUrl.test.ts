import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { maskUserInfo, normaliseBaseUrl } from "../../src/config/baseUrl.ts"

describe("BASE_URL normalisation", () => {
  const normalised: ReadonlyArray<readonly [string, string]> = [
    ["api.github.com", "https://api.github.com"],
    ["  api.github.com\n", "https://api.github.com"],
    ["https://api.github.com/", "https://api.github.com"],
    ["https://api.github.com//", "https://api.github.com"],
    ["HTTPS://API.GitHub.com", "https://api.github.com"],
    ["https://api.github.com:443", "https://api.github.com"],
    ["ghe.example.com/api/v3/", "https://ghe.example.com/api/v3"],
    ["https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3"],
    ["https://ghe.example.com:8443/api/v3/", "https://ghe.example.com:8443/api/v3"],
    ["localhost:8080", "https://localhost:8080"],
    ["http://localhost:8080/", "http://localhost:8080"],
    ["http://LOCALHOST", "http://localhost"],
    ["http://127.0.0.1:9000", "http://127.0.0.1:9000"],
    ["http://127.1.2.3/api", "http://127.1.2.3/api"],
    ["http://[::1]:8080/api/v3/", "http://[::1]:8080/api/v3"],
    ["http://github-sim.tools.svc.cluster.local:8080", "http://github-sim.tools.svc.cluster.local:8080"],
    ["http://github-sim.tools.svc", "http://github-sim.tools.svc"],
    ["http://github-sim.svc:80/", "http://github-sim.svc"]
  ]
  for (const [text, url] of normalised) {
    it(`${JSON.stringify(text)} -> ${url}`, () => {
      expect(normaliseBaseUrl(text)).toStrictEqual(Either.right(url))
    })
  }

  const rejected: ReadonlyArray<readonly [string, string]> = [
    ["http://api.github.com", "plain http:// is only allowed"],
    ["http://ghe.example.com/api/v3", "plain http:// is only allowed"],
    ["http://localhost.example.com", "plain http:// is only allowed"],
    ["http://127.0.0.1.nip.io", "plain http:// is only allowed"],
    ["http://10.0.0.1", "plain http:// is only allowed"],
    ["http://svc", "plain http:// is only allowed"],
    ["http://cluster.local", "plain http:// is only allowed"],
    ["ftp://api.github.com", "must use https://"],
    ["https://", "is not a host name or URL"],
    ["https://exa mple.com", "is not a host name or URL"],
    ["https://api.github.com/?page=1", "must not have a query or fragment"],
    ["https://api.github.com/#top", "must not have a query or fragment"],
    ["https://user:pw@api.github.com", "must not contain credentials"]
  ]
  for (const [text, problem] of rejected) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(Either.flip(normaliseBaseUrl(text)).pipe(Either.getOrThrow)).toContain(problem)
    })
  }

  it("masks credentials before a URL is shown", () => {
    expect(maskUserInfo("https://user:pw@api.github.com/x")).toBe("https://***@api.github.com/x")
    expect(maskUserInfo("user:pw@api.github.com")).toBe("***@api.github.com")
    expect(maskUserInfo("https://api.github.com/a@b")).toBe("https://api.github.com/a@b")
  })
})
