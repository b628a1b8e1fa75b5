import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Either } from "effect"
import { X509Certificate } from "node:crypto"
import { join } from "node:path"
import { type ConfigError, invalidSetting } from "./errors.ts"

/**
 * SSL_CERT_FILE and SSL_CERT_DIR, read once at start the way the original's
 * users set them for Go (a bundle file; directories of PEM files, separated
 * by ':'). Go reads them instead of the system store; here they are trusted
 * on top of Node's own CA list (see egress.ts), so a bundle holding only a
 * corporate CA still leaves GitHub's public certificate trusted.
 */

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g

// A CA bundle is a few hundred KiB; anything far larger is the wrong file.
const MAX_CERTIFICATE_FILE_BYTES = 16 * 1024 * 1024

/** The parseable certificates of a PEM text, normalised (other blocks, such as keys, are ignored, as Go does). */
export const pemCertificates = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(PEM_CERTIFICATE)].flatMap((match) =>
    Either.match(Either.try(() => new X509Certificate(match[0]).toString()), {
      onLeft: () => [],
      onRight: (pem) => [pem]
    })
  )

const REASONS: Partial<Record<string, string>> = {
  NotFound: "no such file or directory",
  PermissionDenied: "permission denied"
}

const readProblem = (error: PlatformError): string =>
  error._tag === "SystemError" ? REASONS[error.reason] ?? error.reason : error.description ?? "bad argument"

/** The certificates of one file; `strict`: the file must exist, be a file and hold at least one. */
const readCertificateFile = (
  path: string,
  setting: string,
  strict: boolean
): Effect.Effect<ReadonlyArray<string>, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const unreadable = (error: PlatformError) => invalidSetting(setting, `cannot read ${JSON.stringify(path)}: ${readProblem(error)}`)
    const info = yield* fs.stat(path).pipe(Effect.mapError(unreadable))
    if (info.type !== "File") {
      return strict ? yield* invalidSetting(setting, `${JSON.stringify(path)} is not a regular file`) : []
    }
    if (info.size > BigInt(MAX_CERTIFICATE_FILE_BYTES)) {
      return strict
        ? yield* invalidSetting(setting, `${JSON.stringify(path)} is larger than ${MAX_CERTIFICATE_FILE_BYTES} bytes; not a CA bundle`)
        : []
    }
    const certificates = pemCertificates(yield* fs.readFileString(path).pipe(Effect.mapError(unreadable)))
    if (strict && certificates.length === 0) {
      return yield* invalidSetting(setting, `${JSON.stringify(path)} holds no PEM certificate`)
    }
    return certificates
  })

/** Every certificate in the regular files of a directory (following links; other files are skipped, as Go does). */
const readCertificateDirectory = (
  path: string
): Effect.Effect<ReadonlyArray<string>, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const names = yield* fs.readDirectory(path).pipe(
      Effect.mapError((error) => invalidSetting("SSL_CERT_DIR", `cannot read the directory ${JSON.stringify(path)}: ${readProblem(error)}`))
    )
    const perFile = yield* Effect.forEach(
      [...names].sort(),
      (name) => readCertificateFile(join(path, name), "SSL_CERT_DIR", false).pipe(Effect.orElseSucceed(() => [])),
      { concurrency: 8 }
    )
    return perFile.flat()
  })

/**
 * The extra CA certificates, deduplicated: SSL_CERT_FILE must hold at least
 * one, and SSL_CERT_DIR's directories together too; an unreadable file or
 * directory is an error naming the setting.
 */
export const loadExtraCertificates = (settings: {
  readonly SSL_CERT_FILE?: string
  readonly SSL_CERT_DIR?: ReadonlyArray<string>
}): Effect.Effect<ReadonlyArray<string>, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fromFile = settings.SSL_CERT_FILE === undefined
      ? []
      : yield* readCertificateFile(settings.SSL_CERT_FILE, "SSL_CERT_FILE", true)
    const directories = settings.SSL_CERT_DIR ?? []
    const fromDirectories = (yield* Effect.forEach(directories, readCertificateDirectory)).flat()
    if (directories.length > 0 && fromDirectories.length === 0) {
      return yield* invalidSetting("SSL_CERT_DIR", `no PEM certificate in ${directories.map((d) => JSON.stringify(d)).join(", ")}`)
    }
    return [...new Set([...fromFile, ...fromDirectories])]
  })
