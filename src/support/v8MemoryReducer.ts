import { Duration, Effect, Layer, Schedule } from "effect"
import { Script } from "node:vm"

/** How often one object is allocated on V8's C++ heap (see memoryReducerAid). */
export const CPP_HEAP_ALLOCATION_INTERVAL = Duration.seconds(30)

/** One small allocation on V8's C++ heap (cppgc): Node keeps a compiled vm.Script there. */
export const allocateOnCppHeap = (): void => void new Script("0")

/**
 * Keeps V8's memory reducer working in Node 24.
 *
 * The reducer is what gives the memory of a finished burst back (the
 * start-up's lists, a rollout's events): some seconds after allocation
 * slows down, it runs a few compacting collections and releases the freed
 * pages. In Node 24 (V8 13.6) it decides "allocation is low" only if the
 * C++ heap's (cppgc) allocation rate is above zero as well, and a process
 * that never allocates there (this one: no vm contexts, no addons) reads as
 * allocating fast forever (nodejs/node#66564, V8 issue 570738027). So the
 * idle tracker kept the start-up's heap: 135-145 MiB RSS at 10,000 pods
 * where a compacting collection takes it to about 106 MiB (measured with the
 * process benchmark and `--trace-memory-reducer`: "high alloc" on every
 * tick). One tiny cppgc allocation every 30 s keeps the rate positive; the
 * reducer's other conditions (young and old generation allocation) still
 * decide.
 */
export const memoryReducerAid = (allocate: () => void = allocateOnCppHeap): Effect.Effect<void> =>
  Effect.sync(allocate).pipe(Effect.repeat(Schedule.spaced(CPP_HEAP_ALLOCATION_INTERVAL)), Effect.asVoid)

/** memoryReducerAid for the life of the process. */
export const V8MemoryReducerLive: Layer.Layer<never> = Layer.scopedDiscard(Effect.forkScoped(memoryReducerAid()))
