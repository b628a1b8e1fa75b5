/**
 * Kubernetes label selector syntax, checked at start so a typo in
 * `-namespace-selector` is one line and exit status 2, not a watch the API
 * server refuses later. The API server still applies it; this only checks.
 *
 * Requirements are separated by commas (outside parentheses):
 * `key`, `!key`, `key=value`, `key==value`, `key!=value`,
 * `key in (v1, v2)`, `key notin (v1, v2)`.
 */

// A label key: an optional DNS-subdomain prefix and `/`, then a name of up
// to 63 characters, alphanumeric at both ends.
const NAME = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
const PREFIX = "[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
const KEY = `(${PREFIX}/)?${NAME}`
const VALUE = `(${NAME})?`

const EXISTS = new RegExp(`^!?\\s*${KEY}$`)
const EQUALITY = new RegExp(`^${KEY}\\s*(=|==|!=)\\s*${VALUE}$`)
const SET = new RegExp(`^${KEY}\\s+(in|notin)\\s*\\(\\s*${VALUE}(\\s*,\\s*${VALUE})*\\s*\\)$`)

/** The requirements of a selector, split at the commas that are not inside a value set. */
const requirements = (selector: string): ReadonlyArray<string> | undefined => {
  const parts: Array<string> = []
  let depth = 0
  let start = 0
  for (let index = 0; index < selector.length; index++) {
    const char = selector[index]
    if (char === "(") depth++
    else if (char === ")") {
      depth--
      if (depth < 0) return undefined
    } else if (char === "," && depth === 0) {
      parts.push(selector.slice(start, index).trim())
      start = index + 1
    }
  }
  if (depth !== 0) return undefined
  parts.push(selector.slice(start).trim())
  return parts
}

/** Why the text is not a label selector, or undefined when it is one. */
export const labelSelectorProblem = (selector: string): string | undefined => {
  if (selector.trim() === "") return "must not be empty"
  const parts = requirements(selector)
  if (parts === undefined) return "has unbalanced parentheses"
  for (const part of parts) {
    if (part === "") return "has an empty requirement (two commas, or a comma at an end)"
    if (!EXISTS.test(part) && !EQUALITY.test(part) && !SET.test(part)) {
      return `has a requirement that is not key, !key, key=value, key!=value, key in (...) or key notin (...): ${JSON.stringify(part)}`
    }
  }
  return undefined
}
