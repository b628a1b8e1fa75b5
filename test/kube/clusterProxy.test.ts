import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import { clusterProxy } from "../../src/kube/clusterProxy.ts"

// A kubeconfig cluster's proxy-url, read as client-go reads it (a scheme is
// required; http, https and socks5 exist), of which we carry http and https.
describe("a cluster's proxy-url", () => {
  it.each([
    ["http://proxy.corp.example:3128", "http://proxy.corp.example:3128/"],
    ["https://proxy.corp.example", "https://proxy.corp.example/"],
    ["http://user:p%40ss@10.0.0.5:3128", "http://user:p%40ss@10.0.0.5:3128/"],
    ["http://[fd00::5]:3128", "http://[fd00::5]:3128/"]
  ])("%s is used as %s", (text, used) => {
    expect(Either.map(clusterProxy("c", text), Redacted.value)).toEqual(Either.right(used))
  })

  it.each([
    ["socks5://127.0.0.1:1080", `proxy-url "socks5://127.0.0.1:1080" of cluster "c" is a SOCKS5 proxy, which this tracker does not support; use an http:// or https:// proxy`],
    ["socks5://user:secret@127.0.0.1:1080", `proxy-url "socks5://***@127.0.0.1:1080" of cluster "c" is a SOCKS5 proxy, which this tracker does not support; use an http:// or https:// proxy`],
    ["ftp://proxy.example", `proxy-url "ftp://proxy.example" of cluster "c" has the scheme ftp; use an http:// or https:// proxy`],
    // No scheme: an error in client-go too (unlike HTTPS_PROXY, where http:// is assumed).
    ["proxy.corp.example:3128", `proxy-url "proxy.corp.example:3128" of cluster "c" is not a URL such as http://proxy.corp.example:3128`],
    ["127.0.0.1:3128", `proxy-url "127.0.0.1:3128" of cluster "c" is not a URL such as http://proxy.corp.example:3128`],
    ["http://", `proxy-url "http://" of cluster "c" is not a URL such as http://proxy.corp.example:3128`]
  ])("%s is refused: %s", (text, message) => {
    expect(clusterProxy("c", text)).toEqual(Either.left(message))
  })
})
