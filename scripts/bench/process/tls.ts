// The benchmark's own PKI, made with `openssl` for each run: a CA, and a
// serving certificate for 127.0.0.1 signed by it (RSA 2048, as kubeadm's
// API server certificates). The kubeconfig trusts that CA, so the tracker
// pays for TLS as it would against a real API server.
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] })

/** Writes ca.crt, server.crt and server.key into `dir`. */
export const makeServingPki = (dir: string): void => {
  const file = (name: string) => join(dir, name)
  openssl([
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench-ca",
    "-keyout", file("ca.key"), "-out", file("ca.crt"),
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=bench-apiserver", "-keyout", file("server.key"), "-out", file("server.csr")])
  writeFileSync(
    file("server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  )
  openssl([
    "x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial",
    "-days", "2", "-extfile", file("server.ext"), "-out", file("server.crt")
  ])
}

/** A one-context kubeconfig for the stand-in: its CA, a bearer token. */
export const writeKubeconfig = (path: string, server: string, caFile: string): void => {
  const ca = readFileSync(caFile).toString("base64")
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: bench",
      "    cluster:",
      `      server: ${server}`,
      `      certificate-authority-data: ${ca}`,
      "users:",
      "  - name: bench",
      "    user:",
      "      token: bench-token",
      "contexts:",
      "  - name: bench",
      "    context:",
      "      cluster: bench",
      "      user: bench",
      "current-context: bench",
      ""
    ].join("\n")
  )
}
