// `npm run github-sim -- --port 0 --token T` : runs the simulator standalone
// and prints `listening on http://127.0.0.1:PORT` once it accepts requests.
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { startGitHubSimulator, type SimulatorOptions } from "./simulator.ts"
import { parseDigestList } from "./store.ts"

const USAGE = `Usage: node scripts/github-sim/main.ts [flags]

  --port N                      port to listen on (0 = any free port; default 0)
  --host H                      address to bind (default 127.0.0.1)
  --base-path P                 serve the API under a prefix, e.g. /api/v3
  --tls-cert FILE --tls-key FILE serve HTTPS with this PEM certificate (chain) and key
  --token T                     accept this personal access token (repeatable)
  --unattested-digests FILE     digests without an attestation, one per line
  --app-id ID                   GitHub App id accepted as the JWT issuer
  --app-client-id ID            GitHub App client id also accepted as the issuer
  --app-public-key FILE         PEM key (public, or the private key) verifying App JWTs
  --installation-id N           installation of the App (repeatable; default 1)
  --installation-token-ttl-ms N lifetime of minted installation tokens (default 3600000)
  --job-delay-ms N              time a job spends pending, then processing (default 100)
  --rate-limit N                requests per hour before the primary limit (default 5000)
  --log                         print each request, record, job change and violation as a JSON line
  --help                        show this text
`

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`)
  return n
}

function optionsFromArgs(argv: ReadonlyArray<string>): SimulatorOptions | undefined {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "base-path": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      token: { type: "string", multiple: true },
      "unattested-digests": { type: "string" },
      "app-id": { type: "string" },
      "app-client-id": { type: "string" },
      "app-public-key": { type: "string" },
      "installation-id": { type: "string", multiple: true },
      "installation-token-ttl-ms": { type: "string" },
      "job-delay-ms": { type: "string" },
      "rate-limit": { type: "string" },
      log: { type: "boolean" },
      help: { type: "boolean" }
    }
  })
  if (values.help === true) return undefined
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) {
    throw new Error("--tls-cert and --tls-key go together")
  }
  if ((values["app-id"] === undefined) !== (values["app-public-key"] === undefined)) {
    throw new Error("--app-id and --app-public-key go together")
  }
  const port = integer("port", values.port)
  const jobDelayMs = integer("job-delay-ms", values["job-delay-ms"])
  const ttl = integer("installation-token-ttl-ms", values["installation-token-ttl-ms"])
  const limit = integer("rate-limit", values["rate-limit"])
  const appId = values["app-id"]
  const appKeyFile = values["app-public-key"]
  const clientId = values["app-client-id"]
  const installationIds = (values["installation-id"] ?? []).map((id) => integer("installation-id", id) ?? 0)
  return {
    ...(port === undefined ? {} : { port }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values["base-path"] === undefined ? {} : { basePath: values["base-path"] }),
    ...(values["tls-cert"] === undefined || values["tls-key"] === undefined
      ? {}
      : { tls: { cert: readFileSync(values["tls-cert"], "utf8"), key: readFileSync(values["tls-key"], "utf8") } }),
    tokens: values.token ?? [],
    ...(values["unattested-digests"] === undefined
      ? {}
      : { unattestedDigests: parseDigestList(readFileSync(values["unattested-digests"], "utf8")) }),
    ...(appId === undefined || appKeyFile === undefined
      ? {}
      : {
          app: {
            id: appId,
            publicKey: readFileSync(appKeyFile, "utf8"),
            ...(clientId === undefined ? {} : { clientId }),
            ...(installationIds.length === 0 ? {} : { installationIds })
          }
        }),
    ...(ttl === undefined ? {} : { installationTokenTtlMs: ttl }),
    ...(jobDelayMs === undefined ? {} : { jobDelayMs }),
    ...(limit === undefined ? {} : { rateLimit: { limit } }),
    ...(values.log === true ? { log: (line: Record<string, unknown>) => console.log(JSON.stringify(line)) } : {})
  }
}

async function main(): Promise<void> {
  let options: SimulatorOptions | undefined
  try {
    options = optionsFromArgs(process.argv.slice(2))
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    console.error(USAGE)
    process.exitCode = 2
    return
  }
  if (options === undefined) {
    console.log(USAGE)
    return
  }
  if ((options.tokens ?? []).length === 0 && options.app === undefined) {
    console.error("warning: no --token and no --app-id: every API request will get 401")
  }
  const simulator = await startGitHubSimulator(options)
  // Parsers look for exactly this line; the API base (with --base-path) follows.
  console.log(`listening on ${simulator.origin}`)
  if (simulator.url !== simulator.origin) console.log(`api base ${simulator.url}`)
  const stop = (): void => {
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1)
    )
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
}

await main()
