/**
 * The deployment_name template (`DN_TEMPLATE`). Placeholders are replaced
 * literally; the default yields `namespace/workload/container`.
 */
export const PLACEHOLDERS = {
  namespace: "{{namespace}}",
  deploymentName: "{{deploymentName}}",
  containerName: "{{containerName}}"
} as const

export const DEFAULT_TEMPLATE = `${PLACEHOLDERS.namespace}/${PLACEHOLDERS.deploymentName}/${PLACEHOLDERS.containerName}`

const KNOWN = new Set<string>(Object.values(PLACEHOLDERS))
const ANY_PLACEHOLDER = /\{\{[^{}]*\}\}/g

/** Why a template is unusable, or undefined when it is fine. */
export const templateProblem = (template: string): string | undefined => {
  const found = template.match(ANY_PLACEHOLDER) ?? []
  const unknown = found.filter((p) => !KNOWN.has(p))
  if (unknown.length > 0) {
    return `unknown placeholder ${unknown[0]} (known: ${[...KNOWN].join(", ")})`
  }
  if (found.length === 0) {
    return `must contain at least one placeholder (${[...KNOWN].join(", ")})`
  }
  return undefined
}

export interface DeploymentNameParts {
  readonly namespace: string
  readonly workloadName: string
  readonly containerName: string
}

export const renderDeploymentName = (template: string, parts: DeploymentNameParts): string =>
  template
    .replaceAll(PLACEHOLDERS.namespace, parts.namespace)
    .replaceAll(PLACEHOLDERS.deploymentName, parts.workloadName)
    .replaceAll(PLACEHOLDERS.containerName, parts.containerName)
