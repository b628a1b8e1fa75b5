// Verifies GitHub App JWTs the way GitHub documents them: RS256 signed with
// the App's private key, integer `iat`/`exp`, `exp` at most 10 minutes ahead,
// `iss` the App id or client id. Messages follow GitHub's own 401 texts where
// they are known (@octokit/auth-app matches on two of them).
import { createPublicKey, verify, type KeyObject } from "node:crypto"

export interface AppIdentity {
  readonly appId: string
  readonly clientId: string | undefined
  readonly publicKey: KeyObject
}

export interface AppJwtClaims {
  readonly iat: number
  readonly exp: number
  readonly iss: string
}

export type JwtResult =
  | { readonly ok: true; readonly claims: AppJwtClaims }
  | { readonly ok: false; readonly message: string }

/** GitHub allows at most 10 minutes between iat and exp. */
export const MAX_JWT_LIFETIME_SECONDS = 600
/** Tolerated clock drift for an `iat` slightly in the future. */
export const JWT_CLOCK_SKEW_SECONDS = 60

export const MESSAGES = {
  undecodable: "A JSON web token could not be decoded",
  iat: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
  expInvalid:
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  expTooFar: "'Expiration time' claim ('exp') is too far in the future",
  iss: "'Issuer' claim ('iss') does not identify this GitHub App"
} as const

export function toPublicKey(pem: string | KeyObject): KeyObject {
  // Accepts a public key, or a private key from which the public half is derived.
  return typeof pem === "string" ? createPublicKey(pem) : pem.type === "public" ? pem : createPublicKey(pem)
}

export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)
}

export function verifyAppJwt(token: string, app: AppIdentity, nowMs: number): JwtResult {
  const parts = token.split(".")
  if (parts.length !== 3) return fail(MESSAGES.undecodable)
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const header = decodeJson(headerPart)
  const payload = decodeJson(payloadPart)
  if (header === undefined || payload === undefined || header["alg"] !== "RS256") return fail(MESSAGES.undecodable)
  if (!signatureMatches(`${headerPart}.${payloadPart}`, signaturePart, app.publicKey)) return fail(MESSAGES.undecodable)

  const now = Math.floor(nowMs / 1000)
  const iat = payload["iat"]
  const exp = payload["exp"]
  if (!Number.isInteger(iat) || (iat as number) > now + JWT_CLOCK_SKEW_SECONDS) return fail(MESSAGES.iat)
  if (!Number.isInteger(exp) || (exp as number) <= now) return fail(MESSAGES.expInvalid)
  if ((exp as number) - (iat as number) > MAX_JWT_LIFETIME_SECONDS || (exp as number) > now + MAX_JWT_LIFETIME_SECONDS) {
    return fail(MESSAGES.expTooFar)
  }
  const iss = payload["iss"]
  const issuer = typeof iss === "number" || typeof iss === "string" ? String(iss) : undefined
  if (issuer === undefined || (issuer !== app.appId && issuer !== app.clientId)) return fail(MESSAGES.iss)
  return { ok: true, claims: { iat: iat as number, exp: exp as number, iss: issuer } }
}

function signatureMatches(signedText: string, signature: string, key: KeyObject): boolean {
  try {
    return verify("sha256", Buffer.from(signedText), key, Buffer.from(signature, "base64url"))
  } catch {
    return false
  }
}

const fail = (message: string): JwtResult => ({ ok: false, message })

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
