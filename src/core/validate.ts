// A small, dependency-free reader for JSON documents we load from disk or the network. Each getter
// names the field path in its error, so a corrupt file is reported as "<file>: field x.y: expected …".

export class ShapeError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(field ? `field ${field}: ${problem}` : problem);
    this.name = "ShapeError";
  }
}

type Json = unknown;

function describe(v: Json): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

export class Reader {
  constructor(
    private readonly obj: Record<string, Json>,
    private readonly path = "",
  ) {}

  static root(v: Json, what = "document"): Reader {
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new ShapeError("", `expected ${what} to be a JSON object, got ${describe(v)}`);
    return new Reader(v as Record<string, Json>);
  }

  private name(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key) && this.obj[key] !== undefined;
  }

  raw(key: string): Json {
    return this.obj[key];
  }

  string(
    key: string,
    opts: { max?: number; pattern?: RegExp; check?: (s: string) => string | undefined } = {},
  ) {
    const v = this.obj[key];
    if (typeof v !== "string") throw new ShapeError(this.name(key), `expected a string, got ${describe(v)}`);
    const max = opts.max ?? 4096;
    if (v.length > max) throw new ShapeError(this.name(key), `longer than ${max} characters`);
    if (opts.pattern && !opts.pattern.test(v))
      throw new ShapeError(
        this.name(key),
        `${JSON.stringify(v.slice(0, 80))} does not match ${opts.pattern}`,
      );
    const problem = opts.check?.(v);
    if (problem) throw new ShapeError(this.name(key), problem);
    return v;
  }

  optString(key: string, opts: Parameters<Reader["string"]>[1] = {}): string | undefined {
    if (!this.has(key) || this.obj[key] === null) return undefined;
    return this.string(key, opts);
  }

  int(key: string, min: number, max: number): number {
    const v = this.obj[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v))
      throw new ShapeError(this.name(key), `expected a whole number, got ${describe(v)}`);
    if (v < min || v > max) throw new ShapeError(this.name(key), `${v} is outside ${min}..${max}`);
    return v;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    if (!this.has(key) || this.obj[key] === null) return undefined;
    return this.int(key, min, max);
  }

  intOr(key: string, min: number, max: number, dflt: number): number {
    return this.optInt(key, min, max) ?? dflt;
  }

  bool(key: string): boolean {
    const v = this.obj[key];
    if (typeof v !== "boolean")
      throw new ShapeError(this.name(key), `expected true or false, got ${describe(v)}`);
    return v;
  }

  obj_(key: string): Reader {
    const v = this.obj[key];
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new ShapeError(this.name(key), `expected an object, got ${describe(v)}`);
    return new Reader(v as Record<string, Json>, this.name(key));
  }

  optObj(key: string): Reader | undefined {
    if (!this.has(key) || this.obj[key] === null) return undefined;
    return this.obj_(key);
  }

  array(key: string, max = 10000): Json[] {
    const v = this.obj[key];
    if (!Array.isArray(v)) throw new ShapeError(this.name(key), `expected an array, got ${describe(v)}`);
    if (v.length > max) throw new ShapeError(this.name(key), `more than ${max} entries`);
    return v;
  }

  keys(): string[] {
    return Object.keys(this.obj);
  }

  child(key: string, v: Json): Reader {
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new ShapeError(this.name(key), `expected an object, got ${describe(v)}`);
    return new Reader(v as Record<string, Json>, this.name(key));
  }
}

export const U8 = 255;
export const U32 = 4294967295;
export const U64 = Number.MAX_SAFE_INTEGER;
