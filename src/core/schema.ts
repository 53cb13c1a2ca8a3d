import { MvmError } from "./errors.js";
import { ShapeError } from "./validate.js";

/** Raised by model parsers; parseJsonFile turns it into an error that names the file. */
export class NewerSchemaError extends Error {
  constructor(
    readonly version: number,
    readonly known: number,
  ) {
    super(`schema_version ${version} is newer than ${known}`);
  }
}

export function checkSchemaVersion(version: number, known: number): void {
  if (version > known) throw new NewerSchemaError(version, known);
}

/** Parses JSON text and validates it; every failure names the file and what is wrong. */
export function parseJsonFile<T>(file: string, text: string, parse: (v: unknown) => T): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MvmError("corrupt", `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseValue(file, raw, parse);
}

export function parseValue<T>(file: string, raw: unknown, parse: (v: unknown) => T): T {
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof ShapeError) throw new MvmError("corrupt", `${file} is corrupt: ${e.message}`);
    if (e instanceof NewerSchemaError)
      throw new MvmError(
        "newer_schema",
        `${file} has schema_version ${e.version}: it was written by a newer mvmctl (this one reads up to ${e.known})`,
        { hint: "Upgrade mvmctl to read this file." },
      );
    throw e;
  }
}

/** Pretty JSON the way the original wrote it (2-space indent). */
export function toJson(v: unknown, trailingNewline = true): string {
  return JSON.stringify(v, null, 2) + (trailingNewline ? "\n" : "");
}
