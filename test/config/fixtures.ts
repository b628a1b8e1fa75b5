import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, type Scope } from "effect"
import { generateKeyPairSync } from "node:crypto"
import { loadConfig } from "../../src/config/loadConfig.ts"

/** A token no error message may ever contain. */
export const TOKEN = "ghp_TopSecretToken0123456789"

/** The smallest environment that starts: required values plus a PAT. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  GITHUB_ORG: "acme",
  LOGICAL_ENVIRONMENT: "production",
  CLUSTER: "eu-west-1",
  API_TOKEN: TOKEN
}

/** Environment without any credentials. */
export const { API_TOKEN: _unused, ...ENV_WITHOUT_CREDENTIALS } = BASE_ENV

const rsa = (type: "pkcs1" | "pkcs8") =>
  generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type, format: "pem" }
  }).privateKey

/** Generated once per test file: RSA 2048 is slow enough to matter. */
export const PKCS1_PEM = rsa("pkcs1")
export const PKCS8_PEM = rsa("pkcs8")
export const EC_PEM = generateKeyPairSync("ec", {
  namedCurve: "prime256v1",
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" }
}).privateKey

export const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")

/** Paths in a fresh temporary directory, removed when the scope closes. */
export interface KeyFiles {
  readonly dir: string
  readonly pkcs1: string
  readonly pkcs8: string
  readonly ec: string
  readonly garbage: string
  readonly huge: string
  readonly missing: string
}

export const makeKeyFiles: Effect.Effect<KeyFiles, never, Scope.Scope> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "deployment-tracker-config-" })
  const write = (name: string, text: string) =>
    Effect.as(fs.writeFileString(`${dir}/${name}`, text), `${dir}/${name}`)
  return {
    dir,
    pkcs1: yield* write("pkcs1.pem", PKCS1_PEM),
    pkcs8: yield* write("pkcs8.pem", PKCS8_PEM),
    ec: yield* write("ec.pem", EC_PEM),
    garbage: yield* write("garbage.pem", "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"),
    huge: yield* write("huge.pem", "x".repeat(100 * 1024)),
    missing: `${dir}/does-not-exist.pem`
  }
}).pipe(Effect.orDie, Effect.provide(NodeFileSystem.layer))

/** loadConfig with the real file system. */
export const load = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  loadConfig(argv, env).pipe(Effect.provide(NodeFileSystem.layer))
