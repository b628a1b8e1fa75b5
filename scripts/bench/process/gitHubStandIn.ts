// The GitHub stand-in of the process benchmark, its own process: answers
// at once, as github.com would on success (shapes from scripts/github-sim),
// and counts requests by route:
// - POST /orgs/{org}/artifacts/metadata/deployment-record -> 200
// - POST …/deployment-record/cluster/{cluster}/jobs -> 202 {job_id}
// - GET  …/jobs/{job_id} -> 200, completed, no errors
// GET /_counters reports the counts. Prints the port on stdout; exits when
// its stdin closes.
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

const RECORD = /^\/orgs\/[^/]+\/artifacts\/metadata\/deployment-record$/
const JOBS = /^\/orgs\/[^/]+\/artifacts\/metadata\/deployment-record\/cluster\/[^/]+\/jobs$/
const JOB = /^\/orgs\/[^/]+\/artifacts\/metadata\/deployment-record\/cluster\/[^/]+\/jobs\/(\d+)$/

const counts = { recordPosts: 0, jobPosts: 0, jobDeployments: 0, jobPolls: 0, other: {} as Record<string, number> }
const jobs = new Map<number, number>()
let nextJobId = 1

const reply = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://github").pathname
  const chunks: Array<Buffer> = []
  req.on("data", (chunk: Buffer) => chunks.push(chunk))
  req.on("end", () => {
    if (req.method === "GET" && path === "/_counters") return reply(res, 200, counts)
    if (req.method === "POST" && RECORD.test(path)) {
      counts.recordPosts++
      return reply(res, 200, { total_count: 1 })
    }
    if (req.method === "POST" && JOBS.test(path)) {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { deployments?: ReadonlyArray<unknown> }
      const deployments = body.deployments?.length ?? 0
      counts.jobPosts++
      counts.jobDeployments += deployments
      const jobId = nextJobId++
      jobs.set(jobId, deployments)
      return reply(res, 202, { job_id: jobId })
    }
    const job = req.method === "GET" ? JOB.exec(path) : null
    if (job !== null) {
      counts.jobPolls++
      const jobId = Number(job[1])
      const deployments = jobs.get(jobId)
      if (deployments === undefined) return reply(res, 404, { message: "Not Found" })
      return reply(res, 200, {
        job_id: jobId,
        status: "completed",
        started_at: new Date().toISOString(),
        total_count: deployments,
        errors: []
      })
    }
    const route = `${req.method} ${path}`
    counts.other[route] = (counts.other[route] ?? 0) + 1
    if ((counts.other[route] ?? 0) <= 3) process.stderr.write(`github-stand-in: no such route: ${route}\n`)
    return reply(res, 404, { message: "Not Found" })
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`))
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
process.on("SIGTERM", () => process.exit(0))
