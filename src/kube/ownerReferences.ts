import type { SlimOwnerReference } from "./SlimPod.ts"

/** The owner reference with `controller: true`, if any (Kubernetes allows at most one). */
export const controllingOwner = (owners: ReadonlyArray<SlimOwnerReference>): SlimOwnerReference | undefined => {
  for (let index = 0; index < owners.length; index++) {
    const owner = owners[index]
    if (owner !== undefined && owner.controller) return owner
  }
  return undefined
}

/** The API group of an `apiVersion`: "" for the core group (`v1`). */
export const apiGroup = (apiVersion: string): string => {
  const slash = apiVersion.indexOf("/")
  return slash === -1 ? "" : apiVersion.slice(0, slash)
}
