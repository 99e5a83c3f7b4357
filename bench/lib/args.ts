// Minimal --flag value parser for benchmark CLIs, with validation and a usage error.

export class ArgError extends Error {}

export class Args {
  private readonly values = new Map<string, string>();

  constructor(argv: readonly string[], private readonly known: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      if (!a.startsWith('--')) throw new ArgError(`unexpected argument ${a}`);
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!known.includes(name)) throw new ArgError(`unknown option --${name} (known: ${known.map((k) => `--${k}`).join(' ')})`);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else {
        const nextArg = argv[i + 1];
        if (nextArg === undefined || nextArg.startsWith('--')) value = 'true';
        else {
          value = nextArg;
          i++;
        }
      }
      this.values.set(name, value);
    }
  }

  str(name: string, def: string): string {
    return this.values.get(name) ?? def;
  }

  optStr(name: string): string | undefined {
    return this.values.get(name);
  }

  num(name: string, def: number, min: number, max: number, integer = false): number {
    const raw = this.values.get(name);
    if (raw === undefined) return def;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw new ArgError(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${raw}`);
    }
    return v;
  }

  flag(name: string): boolean {
    const v = this.values.get(name);
    return v !== undefined && v !== 'false' && v !== '0';
  }
}
