// The member's only timing clock: host CLOCK_MONOTONIC (process.hrtime) with an optional injected
// offset and rate error (benchmarks, tests): localUs = hostMonoUs * (1 + ratePpm/1e6) + offsetUs.

export interface ClockSourceParams {
  offsetUs: number;
  ratePpm: number;
}

/** Injected rate errors beyond this are not a crystal and would break the estimator's prior. */
export const MAX_ABS_RATE_PPM = 1000;
/** Offsets beyond ~30 years are surely a unit mistake. */
export const MAX_ABS_OFFSET_US = 1e15;

/** Taken once: in a worker `process` is a global accessor, looked up again on every use. */
const hrtimeNs = process.hrtime.bigint;

export class ClockSource {
  readonly params: Readonly<ClockSourceParams>;
  private readonly scale: number;

  constructor(opts: Partial<ClockSourceParams> = {}) {
    const offsetUs = opts.offsetUs ?? 0;
    const ratePpm = opts.ratePpm ?? 0;
    if (typeof offsetUs !== 'number' || !Number.isFinite(offsetUs) || Math.abs(offsetUs) > MAX_ABS_OFFSET_US) {
      throw new RangeError(`ClockSource: offsetUs must be a finite number within +-${MAX_ABS_OFFSET_US}, got ${String(offsetUs)}`);
    }
    if (typeof ratePpm !== 'number' || !Number.isFinite(ratePpm) || Math.abs(ratePpm) > MAX_ABS_RATE_PPM) {
      throw new RangeError(`ClockSource: ratePpm must be a finite number within +-${MAX_ABS_RATE_PPM}, got ${String(ratePpm)}`);
    }
    this.params = Object.freeze({ offsetUs, ratePpm });
    this.scale = 1 + ratePpm / 1e6;
  }

  /** Reads JAS_CLOCK_OFFSET_US and JAS_CLOCK_RATE_PPM (both optional); throws a clear error on bad values. */
  static fromEnv(env: Record<string, string | undefined> = process.env): ClockSource {
    return new ClockSource({
      offsetUs: parseEnvNumber(env, 'JAS_CLOCK_OFFSET_US'),
      ratePpm: parseEnvNumber(env, 'JAS_CLOCK_RATE_PPM'),
    });
  }

  /** Local clock now, fractional µs. */
  nowUs(): number {
    return this.fromHostMonoUs(Number(hrtimeNs()) / 1000);
  }

  /** Host CLOCK_MONOTONIC µs (e.g. a DAC timestamp from the native addon) -> local clock µs. */
  fromHostMonoUs(hostMonoUs: number): number {
    return hostMonoUs * this.scale + this.params.offsetUs;
  }

  toHostMonoUs(localUs: number): number {
    return (localUs - this.params.offsetUs) / this.scale;
  }
}

function parseEnvNumber(env: Record<string, string | undefined>, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return 0;
  const v = Number(raw.trim());
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return v;
}
