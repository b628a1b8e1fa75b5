/** The token the simulator accepts (API_TOKEN for the tracker). */
export const GITHUB_TOKEN = "ghp_e2e_deployment_tracker_token"

/** deploy/manifest.yaml's Namespace and ServiceAccount, which the tracker runs as. */
export const TRACKER_NAMESPACE = "deployment-tracker"
export const TRACKER_SERVICE_ACCOUNT = "deployment-tracker"
