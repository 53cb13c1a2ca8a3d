import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { emptyRefs, parseRefs, type TemplateRef, type TemplateRefs } from "../core/refs.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { writeFileAtomic } from "./atomic.js";
import type { TemplateStore } from "./templates.js";

// Tags and recorded registry digests of one template, in <template>/refs.json. Readers take the file
// as it is; writers hold the template's lock and replace it atomically.

function refsFile(store: TemplateStore, name: string): string {
  return join(store.paths.template(name), "refs.json");
}

export async function loadRefs(store: TemplateStore, name: string): Promise<TemplateRefs> {
  const file = refsFile(store, name);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyRefs();
    throw new MvmError("corrupt", `cannot read ${file}: ${(e as Error).message}`);
  }
  return parseJsonFile(file, text, parseRefs);
}

/** Changes the refs under the template's lock; `change` returns what the caller wants back. */
export async function updateRefs<T>(
  store: TemplateStore,
  name: string,
  change: (refs: TemplateRefs) => T | Promise<T>,
): Promise<T> {
  return store.withLock(name, async () => {
    const refs = await loadRefs(store, name);
    const out = await change(refs);
    await writeFileAtomic(refsFile(store, name), toJson(refs));
    return out;
  });
}

/** Remembers that a registry holds `rev` under `digest`. Call with the template lock NOT held. */
export async function recordDigest(
  store: TemplateStore,
  name: string,
  digest: string,
  rev: string,
): Promise<void> {
  await updateRefs(store, name, (refs) => {
    refs.digests[digest] = rev;
  });
}

/** The revision a reference names here, or a not_found error that says what exists. */
export async function resolveRef(store: TemplateStore, ref: TemplateRef): Promise<string | undefined> {
  if (ref.kind === "current") return undefined;
  const refs = await loadRefs(store, ref.name);
  if (ref.kind === "tag") {
    const rev = refs.tags[ref.tag];
    if (!rev)
      throw new MvmError("not_found", `template ${ref.name} has no tag ${ref.tag}`, {
        hint: `List its tags with 'mvmctl template tags ${ref.name}'.`,
      });
    return rev;
  }
  const rev = refs.digests[ref.digest];
  if (!rev)
    throw new MvmError("not_found", `template ${ref.name} has no revision known as ${ref.digest} here`, {
      hint: `Pull it: mvmctl template pull ${ref.name} --registry oci://HOST/REPO@${ref.digest}`,
    });
  return rev;
}
