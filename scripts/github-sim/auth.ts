// Who may call the simulator: configured personal access tokens, installation
// tokens minted by POST /app/installations/{id}/access_tokens (which expire),
// and the GitHub App JWT that mints them.
import { randomBytes, type KeyObject } from "node:crypto"
import { looksLikeJwt, toPublicKey, verifyAppJwt, type AppIdentity, type AppJwtClaims } from "./jwt.ts"

export interface AppOptions {
  /** The App id (numeric) that `iss` may carry. */
  readonly id: number | string
  /** The App client id (`Iv1...`/`Iv23...`) that `iss` may carry instead. */
  readonly clientId?: string
  /** PEM (public or private key) or a KeyObject; the public half verifies JWTs. */
  readonly publicKey: string | KeyObject
  /** Installations of the App; any other id gets 404. Default [1]. */
  readonly installationIds?: ReadonlyArray<number>
}

export type Caller =
  | { readonly kind: "pat"; readonly token: string }
  | { readonly kind: "installation"; readonly installationId: number; readonly expiresAt: number }
  | { readonly kind: "app"; readonly claims: AppJwtClaims }

export type AuthResult =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly message: string }

export interface MintedToken {
  readonly token: string
  readonly installationId: number
  readonly createdAt: number
  readonly expiresAt: number
}

const BEARER = /^(bearer|token)\s+(\S+)\s*$/i

export class Credentials {
  readonly #tokens: ReadonlySet<string>
  readonly #app: AppIdentity | undefined
  readonly #installations: ReadonlySet<number>
  readonly #tokenTtlMs: number
  readonly #minted = new Map<string, MintedToken>()
  /** Tokens revoked before their expiry (DELETE /installation/token on GitHub). */
  readonly #revoked = new Set<string>()

  constructor(options: { tokens: ReadonlyArray<string>; app: AppOptions | undefined; tokenTtlMs: number }) {
    this.#tokens = new Set(options.tokens)
    this.#app =
      options.app === undefined
        ? undefined
        : {
            appId: String(options.app.id),
            clientId: options.app.clientId,
            publicKey: toPublicKey(options.app.publicKey)
          }
    this.#installations = new Set(options.app?.installationIds ?? [1])
    this.#tokenTtlMs = options.tokenTtlMs
  }

  /** Authenticates a call to an org endpoint: PAT or unexpired installation token. */
  authenticateToken(authorization: string | undefined, nowMs: number): AuthResult {
    const token = parseAuthorization(authorization)
    if (token === undefined) return { ok: false, message: "Requires authentication" }
    if (this.#tokens.has(token)) return { ok: true, caller: { kind: "pat", token } }
    const minted = this.#minted.get(token)
    if (minted !== undefined && nowMs < minted.expiresAt && !this.#revoked.has(token)) {
      return { ok: true, caller: { kind: "installation", installationId: minted.installationId, expiresAt: minted.expiresAt } }
    }
    return { ok: false, message: "Bad credentials" }
  }

  /** Authenticates a call to an /app endpoint: only a valid App JWT will do. */
  authenticateApp(authorization: string | undefined, nowMs: number): AuthResult {
    const token = parseAuthorization(authorization)
    if (token === undefined) return { ok: false, message: "Requires authentication" }
    if (!/^bearer\s/i.test(authorization ?? "")) return { ok: false, message: "A JSON web token could not be decoded" }
    if (this.#app === undefined || !looksLikeJwt(token)) return { ok: false, message: "A JSON web token could not be decoded" }
    const result = verifyAppJwt(token, this.#app, nowMs)
    return result.ok ? { ok: true, caller: { kind: "app", claims: result.claims } } : result
  }

  hasInstallation(installationId: number): boolean {
    return this.#installations.has(installationId)
  }

  mint(installationId: number, nowMs: number): MintedToken {
    const token = `ghs_${randomBytes(27).toString("base64url").replace(/[-_]/g, "0").slice(0, 36)}`
    const minted = { token, installationId, createdAt: nowMs, expiresAt: nowMs + this.#tokenTtlMs }
    this.#minted.set(token, minted)
    return minted
  }

  minted(): MintedToken[] {
    return [...this.#minted.values()]
  }

  /** Revokes every installation token minted so far; returns how many were still valid. */
  revokeAll(nowMs: number): number {
    let revoked = 0
    for (const minted of this.#minted.values()) {
      if (nowMs < minted.expiresAt && !this.#revoked.has(minted.token)) revoked++
      this.#revoked.add(minted.token)
    }
    return revoked
  }
}

export function parseAuthorization(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[2]
}

/** The Authorization header with its secret removed, for the request log. */
export function redactAuthorization(header: string): string {
  const scheme = /^(\S+)\s/.exec(header)?.[1]
  return scheme === undefined ? "<redacted>" : `${scheme} <redacted>`
}
