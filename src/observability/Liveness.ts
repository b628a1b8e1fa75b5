import { Clock, Context, Duration, Effect, Exit, Layer, type Scope } from "effect"

/**
 * How long a loop may go without a sign of life before the process counts
 * as not live (`/healthz` answers 503 and the kubelet restarts it).
 */
export interface LivenessBounds {
  /**
   * A watch waiting on the API server (for a list page, an event, a
   * bookmark, or through its reconnect backoff) this long without one is
   * stalled. The reflector replaces a silent watch after 3 minutes, backs
   * off at most 30 s, and the API server sends a bookmark about every
   * minute: a healthy watch is silent for at most about 4.5 minutes.
   */
  readonly watchStall: Duration.Duration
  /**
   * A worker holding one key this long, or a watch consumer holding its
   * watch this long (e.g. waiting for room in a full work queue), is
   * wedged. Time during a declared hold-up (a GitHub rate limit, see
   * `holdUp`) does not count: those waits last up to an hour.
   */
  readonly workStall: Duration.Duration
}

export const DEFAULT_LIVENESS_BOUNDS: LivenessBounds = {
  watchStall: Duration.minutes(5),
  workStall: Duration.minutes(30)
}

/** What a watch loop (a reflector) reports while its stream runs. */
export interface WatchProgress {
  /** The server sent something: a list page, a watch event or a bookmark. */
  readonly progressed: Effect.Effect<void>
  /** Deltas went to the consumer: until the next pull, time is the consumer's. */
  readonly handedOver: Effect.Effect<void>
  /** The consumer pulled again: the loop waits on the server (or its backoff) again. */
  readonly pulled: Effect.Effect<void>
}

/** What a worker loop reports. */
export interface WorkerProgress {
  /** Runs `work` as the handling of `key`: the worker is busy with it until `work` ends. */
  readonly handling: (key: string) => <A, E, R>(work: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export type WatchReport =
  | { readonly name: string; readonly state: "waiting-for-server"; readonly silentSeconds: number }
  | { readonly name: string; readonly state: "with-consumer"; readonly heldSeconds: number }
  | { readonly name: string; readonly state: "stopped"; readonly reason: string }

export type WorkerReport =
  | { readonly name: string; readonly state: "idle" }
  | { readonly name: string; readonly state: "busy"; readonly key: string; readonly busySeconds: number }
  | { readonly name: string; readonly state: "stopped"; readonly reason: string }

/** The liveness verdict, as `/healthz` shows it (names, keys and durations only: no secrets). */
export interface LivenessReport {
  readonly live: boolean
  /** One line per failing loop. */
  readonly problems: ReadonlyArray<string>
  readonly watches: ReadonlyArray<WatchReport>
  readonly workers: ReadonlyArray<WorkerReport>
  /** End of the latest declared hold-up (ISO time), if any. */
  readonly heldUpUntil: string | null
  readonly bounds: { readonly watchStallSeconds: number; readonly workStallSeconds: number }
}

export interface LivenessService {
  /**
   * Registers a watch loop for as long as the scope is open (the reflector
   * acquires it when its stream starts). It starts out waiting for the
   * server. When the scope closes by interruption (shutdown, lost
   * leadership) the loop is forgotten; any other end (a defect, or a
   * stream that ended) leaves it `stopped`, which fails liveness.
   */
  readonly watch: (name: string) => Effect.Effect<WatchProgress, never, Scope.Scope>
  /** Registers a worker loop for as long as the scope is open; ends as `watch` does. */
  readonly worker: (name: string) => Effect.Effect<WorkerProgress, never, Scope.Scope>
  /**
   * Declares a source of legitimate hold-ups while the scope is open:
   * `until` answers the end (epoch millis) of the latest hold-up, past or
   * future, e.g. the rate-limit gate's reset time. Work and watch
   * consumers are not wedged before that instant, and their clocks restart
   * from it.
   */
  readonly holdUp: (until: Effect.Effect<number>) => Effect.Effect<void, never, Scope.Scope>
  /** The end (epoch millis) of the latest declared hold-up, past or future; 0 without any. */
  readonly heldUpUntil: Effect.Effect<number>
  /** Evaluates every registered loop now (logs a warning when the verdict turns to not live). */
  readonly check: Effect.Effect<LivenessReport>
}

interface WatchState {
  phase: "server" | "consumer" | "stopped"
  /** When the current phase began. */
  since: number
  lastProgress: number
  stopReason: string
}

interface WorkerState {
  key: string | undefined
  since: number
  stopped: string | undefined
}

const seconds = (millis: number) => Math.round(millis / 100) / 10

/** An ISO time, or null when there is none (or it is beyond what a Date can hold). */
const isoTime = (millis: number) => {
  const date = new Date(millis)
  return millis > 0 && !Number.isNaN(date.getTime()) ? date.toISOString() : null
}

const describeEnd = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit) ? "the loop ended" : "the loop died"

export const makeLiveness = (bounds: LivenessBounds) =>
  Effect.gen(function*() {
    const watchStall = Duration.toMillis(bounds.watchStall)
    const workStall = Duration.toMillis(bounds.workStall)
    // Keyed by registration, not name: a name reused by a restarted loop
    // must not be overwritten by the old loop's end.
    const watches = new Map<symbol, { readonly name: string; readonly state: WatchState }>()
    const workers = new Map<symbol, { readonly name: string; readonly state: WorkerState }>()
    const holdUps = new Set<Effect.Effect<number>>()
    let wasLive = true

    /** Registers an entry; on interruption it is dropped, otherwise marked stopped. */
    const register = <S>(
      table: Map<symbol, { readonly name: string; readonly state: S }>,
      name: string,
      initial: (now: number) => S,
      stop: (state: S, reason: string) => void
    ) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const id = Symbol(name)
          const state = initial(now)
          table.set(id, { name, state })
          return { id, state }
        }),
        ({ id, state }, exit) =>
          Effect.sync(() => {
            if (Exit.isInterrupted(exit)) table.delete(id)
            else stop(state, describeEnd(exit))
          })
      )

    const watch = (name: string) =>
      register<WatchState>(
        watches,
        name,
        (now) => ({ phase: "server", since: now, lastProgress: now, stopReason: "" }),
        (state, reason) => {
          state.phase = "stopped"
          state.stopReason = reason
        }
      ).pipe(Effect.map(({ state }): WatchProgress => ({
        progressed: Effect.map(Clock.currentTimeMillis, (now) => void (state.lastProgress = now)),
        handedOver: Effect.map(Clock.currentTimeMillis, (now) => {
          if (state.phase === "server") {
            state.phase = "consumer"
            state.since = now
          }
        }),
        pulled: Effect.map(Clock.currentTimeMillis, (now) => {
          if (state.phase === "consumer") {
            state.phase = "server"
            state.since = now
          }
        })
      })))

    const worker = (name: string) =>
      register<WorkerState>(
        workers,
        name,
        (now) => ({ key: undefined, since: now, stopped: undefined }),
        (state, reason) => void (state.stopped = reason)
      ).pipe(Effect.map(({ state }): WorkerProgress => ({
        handling: (key) => (work) =>
          Effect.acquireUseRelease(
            Effect.map(Clock.currentTimeMillis, (now) => {
              state.key = key
              state.since = now
            }),
            () => work,
            () =>
              Effect.map(Clock.currentTimeMillis, (now) => {
                state.key = undefined
                state.since = now
              })
          )
      })))

    const holdUp = (until: Effect.Effect<number>) =>
      Effect.acquireRelease(
        Effect.sync(() => void holdUps.add(until)),
        () => Effect.sync(() => void holdUps.delete(until))
      )

    const latestHoldUp = Effect.gen(function*() {
      let until = 0
      for (const holdUp of holdUps) until = Math.max(until, yield* holdUp)
      return until
    })

    const check = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const heldUpUntil = yield* latestHoldUp
      const heldUp = heldUpUntil > now
      /** How long work has been held without an excuse, counted from `since`. */
      const unexcused = (since: number) => heldUp ? 0 : now - Math.max(since, heldUpUntil)
      const problems: Array<string> = []

      const watchReports = Array.from(watches.values(), ({ name, state }): WatchReport => {
        switch (state.phase) {
          case "stopped":
            problems.push(`watch ${name} stopped: ${state.stopReason}`)
            return { name, state: "stopped", reason: state.stopReason }
          case "server": {
            const silent = now - Math.max(state.since, state.lastProgress)
            if (silent > watchStall) {
              problems.push(`watch ${name}: no list page, event or bookmark for ${seconds(silent)} s`)
            }
            return { name, state: "waiting-for-server", silentSeconds: seconds(silent) }
          }
          case "consumer": {
            const held = unexcused(state.since)
            if (held > workStall) problems.push(`watch ${name}: its consumer has not pulled for ${seconds(held)} s`)
            return { name, state: "with-consumer", heldSeconds: seconds(now - state.since) }
          }
        }
      })

      const workerReports = Array.from(workers.values(), ({ name, state }): WorkerReport => {
        if (state.stopped !== undefined) {
          problems.push(`worker ${name} stopped: ${state.stopped}`)
          return { name, state: "stopped", reason: state.stopped }
        }
        if (state.key === undefined) return { name, state: "idle" }
        const busy = unexcused(state.since)
        if (busy > workStall) problems.push(`worker ${name}: busy with ${state.key} for ${seconds(busy)} s`)
        return { name, state: "busy", key: state.key, busySeconds: seconds(now - state.since) }
      })

      const live = problems.length === 0
      if (live !== wasLive) {
        wasLive = live
        yield* live
          ? Effect.logInfo("Liveness restored")
          : Effect.logWarning("Liveness check failing").pipe(Effect.annotateLogs({ problems }))
      }
      return {
        live,
        problems,
        watches: watchReports,
        workers: workerReports,
        heldUpUntil: isoTime(heldUpUntil),
        bounds: { watchStallSeconds: watchStall / 1000, workStallSeconds: workStall / 1000 }
      } satisfies LivenessReport
    })

    return { watch, worker, holdUp, heldUpUntil: latestHoldUp, check } satisfies LivenessService
  })

/**
 * Whether the controller's loops are still making progress: watches
 * receive from the API server, workers finish their keys. Served on
 * `/healthz`.
 */
export class Liveness extends Context.Tag("deployment-tracker/Liveness")<Liveness, LivenessService>() {
  static readonly layer = (bounds: LivenessBounds): Layer.Layer<Liveness> => Layer.effect(Liveness, makeLiveness(bounds))
  static readonly Default: Layer.Layer<Liveness> = Liveness.layer(DEFAULT_LIVENESS_BOUNDS)
}
