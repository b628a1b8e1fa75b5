// A zero-latency stand-in for GitHub, run as its own process so it does not
// share the benchmarked process's event loop. Answers every POST with 200 at
// once and remembers when each deployment_name arrived (epoch ms, sub-ms).
// GET /_times returns them, GET /_count how many; the listening port is printed on stdout.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const arrivals = new Map<string, number>()
const now = () => performance.timeOrigin + performance.now()

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/_count") {
    res.end(String(arrivals.size))
    return
  }
  if (req.method === "GET" && req.url === "/_times") {
    res.setHeader("content-type", "application/json")
    res.end(JSON.stringify(Object.fromEntries(arrivals)))
    return
  }
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (chunk: string) => (body += chunk))
  req.on("end", () => {
    const name = (JSON.parse(body) as { deployment_name?: string }).deployment_name
    if (name !== undefined && !arrivals.has(name)) arrivals.set(name, now())
    res.setHeader("content-type", "application/json")
    res.end('{"total_count":1}')
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
// The benchmark holds our stdin open; when it exits (even by crashing) we go too.
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
