import { describe, expect, it } from "@effect/vitest"
import { digestFromImageID, parseImageReference } from "../../src/record/imageReference.ts"

const HEX = "0123456789abcdef".repeat(4)
const DIGEST = `sha256:${HEX}`

describe("parseImageReference", () => {
  // A ':' only starts a tag after the last '/', so registry ports survive.
  const cases: ReadonlyArray<readonly [image: string, name: string, version: string | undefined]> = [
    ["nginx", "nginx", undefined],
    ["nginx:1.27", "nginx", "1.27"],
    ["nginx:latest", "nginx", "latest"],
    [`nginx@${DIGEST}`, "nginx", undefined],
    [`nginx:1.27@${DIGEST}`, "nginx", "1.27"],
    ["library/nginx:1.27", "library/nginx", "1.27"],
    ["docker.io/library/nginx:1.27", "docker.io/library/nginx", "1.27"],
    ["ghcr.io/acme/web:v2.0.1", "ghcr.io/acme/web", "v2.0.1"],
    ["gcr.io/project/team/image:latest", "gcr.io/project/team/image", "latest"],
    ["localhost:5000/app", "localhost:5000/app", undefined],
    ["localhost:5000/app:1.2", "localhost:5000/app", "1.2"],
    [`localhost:5000/app@${DIGEST}`, "localhost:5000/app", undefined],
    [`localhost:5000/team/app:1.2@${DIGEST}`, "localhost:5000/team/app", "1.2"],
    ["registry.internal:443/app:2024.05.01-rc_1", "registry.internal:443/app", "2024.05.01-rc_1"],
    ["[::1]:5000/app:1.0", "[::1]:5000/app", "1.0"],
    ["[::1]:5000/app", "[::1]:5000/app", undefined],
    // An empty tag is no tag (the original omits an empty version).
    ["nginx:", "nginx", undefined],
    ["", "", undefined]
  ]
  for (const [image, name, version] of cases) {
    it(`${JSON.stringify(image)} -> name ${name}, version ${String(version)}`, () => {
      expect(parseImageReference(image)).toEqual({ name, version })
    })
  }
})

describe("digestFromImageID", () => {
  // No validation here: whatever follows '@' or the scheme is passed on, so
  // validateRecord can report a malformed digest instead of losing it.
  const cases: ReadonlyArray<readonly [imageID: string | undefined, digest: string | undefined]> = [
    [`docker-pullable://nginx@${DIGEST}`, DIGEST],
    [`docker-pullable://localhost:5000/app@${DIGEST}`, DIGEST],
    [`ghcr.io/acme/web@${DIGEST}`, DIGEST],
    [`localhost:5000/app@${DIGEST}`, DIGEST],
    [`docker://${DIGEST}`, DIGEST],
    [`containerd://${DIGEST}`, DIGEST],
    [`cri-o://${DIGEST}`, DIGEST],
    // A bare image config ID (images loaded into the node, e.g. kind load).
    [DIGEST, DIGEST],
    // Passed through unvalidated:
    [`nginx@sha256:${HEX.toUpperCase()}`, `sha256:${HEX.toUpperCase()}`],
    ["nginx@sha256:abc123", "sha256:abc123"],
    ["nginx@sha512:ff", "sha512:ff"],
    ["docker://abc", "abc"],
    // The last '@' wins.
    [`weird@name@${DIGEST}`, DIGEST],
    // Nothing to report yet.
    [undefined, undefined],
    ["", undefined],
    ["nginx@", undefined],
    ["docker://", undefined]
  ]
  for (const [imageID, digest] of cases) {
    it(`${JSON.stringify(imageID)} -> ${String(digest)}`, () => {
      expect(digestFromImageID(imageID)).toBe(digest)
    })
  }
})
