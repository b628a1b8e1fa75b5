/** One object to read: enough to build its path. */
export interface ObjectRef {
  readonly kind: string
  readonly apiVersion: string
  readonly namespace: string
  readonly name: string
}

/** An object on the API server, as much as is needed to ask about it again (and to persist). */
export interface WorkloadOwner extends ObjectRef {
  readonly uid: string
}
