// Loaded into the forward proxy's process only (`node --import`): the host
// names in DT_E2E_PROXY_ONLY_NAMES ("name=address,...") resolve there and
// nowhere else, like public names an egress proxy can resolve and the
// cluster cannot. A tracker that reaches such a host did so through the proxy.
import dns from "node:dns"

const names = new Map(
  (process.env["DT_E2E_PROXY_ONLY_NAMES"] ?? "").split(",").filter((pair) => pair.includes("=")).map((pair) => {
    const [name, address] = pair.split("=")
    return [name!.toLowerCase(), address!] as const
  })
)

const lookup = dns.lookup
const patched = (hostname: string, options: unknown, callback?: unknown): void => {
  const done = (typeof options === "function" ? options : callback) as (...args: Array<unknown>) => void
  const settings = (typeof options === "object" && options !== null ? options : {}) as { all?: boolean }
  const address = names.get(hostname.toLowerCase())
  if (address === undefined) {
    ;(lookup as (...args: Array<unknown>) => void).call(dns, hostname, options, callback)
    return
  }
  const family = address.includes(":") ? 6 : 4
  if (settings.all === true) process.nextTick(done, null, [{ address, family }])
  else process.nextTick(done, null, address, family)
}
;(dns as { lookup: unknown }).lookup = patched
