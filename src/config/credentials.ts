import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either, Redacted } from "effect"
import { createPrivateKey } from "node:crypto"
import type { GitHubCredentials } from "./Config.ts"
import { type ConfigError, invalidSetting } from "./errors.ts"

/**
 * GitHub credentials: a PAT (`API_TOKEN`) or a GitHub App (id, installation
 * id, private key from a file or base64 in the environment). App settings win
 * over a token when complete, as in the original; partial App settings are an
 * error rather than a silent fall-back to the token. Neither: requests carry
 * no Authorization header (as in the original), with one warning.
 */

export interface CredentialSettings {
  readonly API_TOKEN?: Redacted.Redacted<string>
  readonly GH_APP_ID?: string
  readonly GH_INSTALL_ID?: string
  readonly GH_APP_PRIV_KEY_PATH?: string
  /** Already base64-decoded: PEM text, not yet checked. */
  readonly GH_APP_PRIVATE_KEY?: Redacted.Redacted<string>
}

/** Where the App's private key comes from; `setting` is the name errors use. */
export type PrivateKeySource =
  | { readonly _tag: "File"; readonly path: string; readonly setting: string }
  | { readonly _tag: "Inline"; readonly pem: Redacted.Redacted<string>; readonly setting: string }

export type CredentialPlan =
  | { readonly _tag: "None" }
  | { readonly _tag: "Token"; readonly token: Redacted.Redacted<string> }
  | {
    readonly _tag: "App"
    readonly appId: string
    readonly installationId: string
    readonly privateKey: PrivateKeySource
  }

const APP_SETTINGS = "GH_APP_ID, GH_INSTALL_ID and GH_APP_PRIV_KEY_PATH or GH_APP_PRIVATE_KEY"

/** Decides between token and App from what is set; reads nothing. */
export const planCredentials = (
  settings: CredentialSettings,
  givenAs: Readonly<Record<string, string>> = {}
): Either.Either<{ readonly plan: CredentialPlan; readonly warnings: ReadonlyArray<string> }, ConfigError> => {
  const keyPathSetting = givenAs["GH_APP_PRIV_KEY_PATH"] ?? "GH_APP_PRIV_KEY_PATH"
  const { API_TOKEN: token, GH_APP_ID: appId, GH_INSTALL_ID: installationId } = settings
  const keyPath = settings.GH_APP_PRIV_KEY_PATH
  const keyText = settings.GH_APP_PRIVATE_KEY

  if (keyPath !== undefined && keyText !== undefined) {
    return Either.left(invalidSetting("GH_APP_PRIVATE_KEY", `cannot be combined with ${keyPathSetting}; set only one`))
  }
  const privateKey: PrivateKeySource | undefined = keyPath !== undefined
    ? { _tag: "File", path: keyPath, setting: keyPathSetting }
    : keyText !== undefined
    ? { _tag: "Inline", pem: keyText, setting: "GH_APP_PRIVATE_KEY" }
    : undefined

  const appParts = [
    { setting: "GH_APP_ID", isSet: appId !== undefined },
    { setting: "GH_INSTALL_ID", isSet: installationId !== undefined },
    { setting: privateKey?.setting ?? "GH_APP_PRIV_KEY_PATH", isSet: privateKey !== undefined }
  ]
  const set = appParts.filter((part) => part.isSet).map((part) => part.setting)
  const missing = appParts.find((part) => !part.isSet)

  if (appId !== undefined && installationId !== undefined && privateKey !== undefined) {
    const warnings = token === undefined
      ? []
      : ["API_TOKEN is ignored: the GitHub App settings are complete and take precedence"]
    return Either.right({ plan: { _tag: "App", appId, installationId, privateKey }, warnings })
  }
  if (set.length > 0 && missing !== undefined) {
    const problem = missing.setting === "GH_APP_PRIV_KEY_PATH"
      ? "is required (or GH_APP_PRIVATE_KEY)"
      : "is required"
    return Either.left(
      invalidSetting(missing.setting, `${problem} because ${set.join(" and ")} ${set.length === 1 ? "is" : "are"} set: a GitHub App needs ${APP_SETTINGS}`)
    )
  }
  if (token !== undefined) return Either.right({ plan: { _tag: "Token", token }, warnings: [] })
  return Either.right({ plan: { _tag: "None" }, warnings: [NO_CREDENTIALS_WARNING] })
}

/** The one warning of a start without credentials. */
export const NO_CREDENTIALS_WARNING = "No GitHub credentials (API_TOKEN, or " + APP_SETTINGS +
  "): requests are sent without an Authorization header, so BASE_URL must add credentials (e.g. a proxy in the cluster)"

/**
 * Checks PEM text with the same parser the JWT signing will use, and returns
 * it as PKCS#8 (both PKCS#1 and PKCS#8 are accepted; one form downstream).
 * GitHub App keys are RSA (RS256). Messages never contain key material.
 */
export const checkPrivateKey = (pem: string, setting: string, what: string): Either.Either<string, ConfigError> => {
  const parsed = Either.try(() => createPrivateKey({ key: pem, format: "pem" }))
  if (Either.isLeft(parsed)) {
    return Either.left(invalidSetting(setting, `${what} is not a PEM private key (PKCS#1 or PKCS#8, unencrypted)`))
  }
  const key = parsed.right
  if (key.asymmetricKeyType !== "rsa") {
    return Either.left(
      invalidSetting(setting, `${what} is a ${key.asymmetricKeyType ?? "non-RSA"} key; GitHub App keys are RSA`)
    )
  }
  return Either.right(key.export({ format: "pem", type: "pkcs8" }).toString())
}

// A PEM RSA key is a few KiB; anything much larger is the wrong file.
const MAX_KEY_FILE_BYTES = 64 * 1024

const REASONS: Partial<Record<string, string>> = {
  NotFound: "no such file",
  PermissionDenied: "permission denied"
}

const readProblem = (error: PlatformError): string =>
  error._tag === "SystemError" ? REASONS[error.reason] ?? error.reason : error.description ?? "bad argument"

const readKeyFile = (path: string, setting: string): Effect.Effect<string, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const unreadable = (error: PlatformError) =>
      invalidSetting(setting, `cannot read ${JSON.stringify(path)}: ${readProblem(error)}`)
    const info = yield* Effect.mapError(fs.stat(path), unreadable)
    if (info.type !== "File") {
      return yield* invalidSetting(setting, `${JSON.stringify(path)} is not a regular file`)
    }
    if (info.size > BigInt(MAX_KEY_FILE_BYTES)) {
      return yield* invalidSetting(setting, `${JSON.stringify(path)} is larger than ${MAX_KEY_FILE_BYTES} bytes; not a PEM key`)
    }
    return yield* Effect.mapError(fs.readFileString(path), unreadable)
  })

/** The App's private key as checked PKCS#8 PEM, read from its file when it has one. */
export const loadPrivateKey = (
  source: PrivateKeySource
): Effect.Effect<Redacted.Redacted<string>, ConfigError, FileSystem.FileSystem> =>
  source._tag === "File"
    ? readKeyFile(source.path, source.setting).pipe(
      Effect.flatMap((pem) => checkPrivateKey(pem, source.setting, `the file ${JSON.stringify(source.path)}`)),
      Effect.map(Redacted.make)
    )
    : Effect.map(checkPrivateKey(Redacted.value(source.pem), source.setting, "the decoded key"), Redacted.make)

export const resolveCredentials = (
  plan: CredentialPlan
): Effect.Effect<GitHubCredentials, ConfigError, FileSystem.FileSystem> =>
  plan._tag === "None"
    ? Effect.succeed({ _tag: "None" })
    : plan._tag === "Token"
    ? Effect.succeed({ _tag: "Token", token: plan.token })
    : Effect.map(loadPrivateKey(plan.privateKey), (privateKey) => ({
      _tag: "App",
      appId: plan.appId,
      installationId: plan.installationId,
      privateKey
    }))
