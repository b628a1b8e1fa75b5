import { Either } from "effect"
import type { NamespaceScope } from "./Config.ts"
import { type ConfigError, invalidSetting } from "./errors.ts"

/**
 * Which namespaces to watch. `-namespace` and `-exclude-namespaces` are
 * mutually exclusive, as in the original (which also counts an exclude list of
 * only commas as set).
 */
export const namespaceScope = (settings: {
  readonly "-namespace"?: string
  readonly "-exclude-namespaces"?: ReadonlyArray<string>
}): Either.Either<NamespaceScope, ConfigError> => {
  const only = settings["-namespace"]
  const excluded = settings["-exclude-namespaces"]
  if (only !== undefined && excluded !== undefined) {
    return Either.left(invalidSetting("-exclude-namespaces", "cannot be combined with -namespace; set only one"))
  }
  if (only !== undefined) return Either.right({ _tag: "Only", namespace: only })
  if (excluded !== undefined && excluded.length > 0) return Either.right({ _tag: "Exclude", namespaces: excluded })
  return Either.right({ _tag: "All" })
}
