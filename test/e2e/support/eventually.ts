/**
 * Polls `check` until it returns without throwing, or the deadline passes;
 * then throws the last failure, prefixed with what was awaited. The only
 * way these tests wait for the cluster or the tracker: never a fixed sleep.
 */
export const eventually = async <A>(
  what: string,
  check: () => A | Promise<A>,
  options: { readonly deadlineMs?: number; readonly intervalMs?: number } = {}
): Promise<A> => {
  const deadlineMs = options.deadlineMs ?? 30_000
  const intervalMs = options.intervalMs ?? 200
  const end = Date.now() + deadlineMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (error instanceof GiveUp) throw error
      if (Date.now() >= end) {
        const detail = error instanceof Error ? error.message : String(error)
        const timedOut = new Error(`timed out after ${deadlineMs} ms waiting for ${what}:\n${detail}`)
        timedOut.cause = error
        throw timedOut
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Thrown by a check when its condition can no longer become true: ends `eventually` at once. */
export class GiveUp extends Error {}
