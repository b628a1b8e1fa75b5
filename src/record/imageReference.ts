/**
 * Image references and image IDs, split the way the original does. Nothing
 * here validates: a malformed digest is passed through so that
 * validateRecord can report it as such instead of it vanishing here.
 */

export interface ImageReference {
  /** The repository as written in the pod spec, without tag or digest. */
  readonly name: string
  /** The tag, or undefined when the reference has none (or an empty one). */
  readonly version: string | undefined
}

/**
 * `registry:5000/team/app:1.2@sha256:...` -> name `registry:5000/team/app`,
 * version `1.2`. The digest is dropped, and only a `:` after the last `/`
 * starts a tag, so a registry port is never mistaken for one. The name is
 * kept as written (no `docker.io/library/` added): it is what users see in
 * their manifests and what the original sends.
 */
export const parseImageReference = (image: string): ImageReference => {
  const at = image.indexOf("@")
  const withoutDigest = at === -1 ? image : image.slice(0, at)
  const colon = withoutDigest.lastIndexOf(":")
  if (colon === -1 || colon < withoutDigest.lastIndexOf("/")) {
    return { name: withoutDigest, version: undefined }
  }
  const tag = withoutDigest.slice(colon + 1)
  return { name: withoutDigest.slice(0, colon), version: tag.length > 0 ? tag : undefined }
}

const SCHEME_SEPARATOR = "://"

/**
 * The digest part of `status.containerStatuses[].imageID`, which runtimes
 * write in several shapes:
 * - `docker-pullable://repo@sha256:...`, `repo@sha256:...` -> after the last `@`
 * - `docker://sha256:...`, `containerd://sha256:...` -> without the scheme
 * - `sha256:...` (a bare image config ID) -> as is
 * Undefined for an absent or empty imageID (the image is still being pulled).
 */
export const digestFromImageID = (imageID: string | undefined): string | undefined => {
  if (imageID === undefined || imageID.length === 0) return undefined
  const at = imageID.lastIndexOf("@")
  if (at !== -1) return emptyToUndefined(imageID.slice(at + 1))
  const scheme = imageID.indexOf(SCHEME_SEPARATOR)
  if (scheme !== -1) return emptyToUndefined(imageID.slice(scheme + SCHEME_SEPARATOR.length))
  return imageID
}

const emptyToUndefined = (value: string): string | undefined => (value.length > 0 ? value : undefined)
