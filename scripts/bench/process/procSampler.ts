// CPU time and memory of another process, from /proc (Linux): utime+stime
// of /proc/<pid>/stat in clock ticks, VmRSS and VmHWM (peak RSS) of
// /proc/<pid>/status. Sampled on a timer, so the tracker's own figures are
// not disturbed by asking it.
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"

/** Clock ticks per second (`getconf CLK_TCK`, normally 100). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
  } catch {
    return 100
  }
})()

export interface ProcReading {
  readonly cpuSeconds: number
  readonly rssBytes: number
  /** Peak RSS since start, or since the last resetPeak. */
  readonly hwmBytes: number
}

/** One reading; undefined once the process is gone (or a zombie). */
export const readProc = (pid: number): ProcReading | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (fields[0] === "Z") return undefined
    const ticks = Number(fields[11]) + Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kib = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)
      return match === null ? undefined : Number(match[1]) * 1024
    }
    const rssBytes = kib("VmRSS")
    const hwmBytes = kib("VmHWM")
    // An exiting process has released its memory and has no Vm* lines any more.
    if (rssBytes === undefined || hwmBytes === undefined) return undefined
    return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes, hwmBytes }
  } catch {
    return undefined
  }
}

/**
 * Resets VmHWM to the current RSS (Linux 4.0+, `echo 5 > clear_refs`; needs
 * to own the process), so the next VmHWM is the peak of a phase. False when
 * not allowed: the sampled maximum is then the phase's peak.
 */
export const resetPeak = (pid: number): boolean => {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

export interface ProcSample extends ProcReading {
  /** performance.now() of the reading. */
  readonly at: number
}

/** Samples a process every `intervalMs` until stopped or the process is gone. */
export class ProcSampler {
  readonly samples: Array<ProcSample> = []
  readonly #pid: number
  readonly #timer: NodeJS.Timeout

  constructor(pid: number, intervalMs: number) {
    this.#pid = pid
    this.sample()
    this.#timer = setInterval(() => this.sample(), intervalMs)
  }

  sample(): ProcSample | undefined {
    const reading = readProc(this.#pid)
    if (reading === undefined) return undefined
    const sample = { ...reading, at: performance.now() }
    this.samples.push(sample)
    return sample
  }

  get latest(): ProcSample | undefined {
    return this.samples.at(-1)
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /** The largest RSS sampled in [from, to]. */
  peakRss(from: number, to: number): number {
    let peak = 0
    for (const s of this.samples) if (s.at >= from && s.at <= to && s.rssBytes > peak) peak = s.rssBytes
    return peak
  }

  /** The last sample at or before `at`. */
  at(at: number): ProcSample | undefined {
    for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i]!.at <= at) return this.samples[i]
    return undefined
  }

  /**
   * When the CPU has been quiet (under `coreFraction` of one core) for the
   * last `windowMs`: the start of that window; undefined if not quiet.
   */
  quietSince(windowMs: number, coreFraction: number): number | undefined {
    const last = this.latest
    if (last === undefined) return undefined
    const start = this.at(last.at - windowMs)
    if (start === undefined || last.at - start.at < windowMs * 0.9) return undefined
    const used = last.cpuSeconds - start.cpuSeconds
    return used / ((last.at - start.at) / 1000) < coreFraction ? start.at : undefined
  }
}
