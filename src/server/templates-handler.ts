import { MvmError } from "../core/errors.js";
import { templateHealth } from "../store/health.js";
import type { TemplateStore } from "../store/templates.js";
import { ApiError } from "./api-error.js";

// Templates as the API shows them: what a caller needs to pick one and to place a sandbox (sizing,
// whether a snapshot exists and the fingerprint it was taken with).

export interface TemplateView {
  name: string;
  status: "ready" | "not_built" | "broken";
  problem: string | null;
  revision: string | null;
  built_at: string | null;
  cpus: number;
  mem_mib: number;
  snapshot: boolean;
  snapshot_fingerprint: Record<string, unknown> | null;
}

export async function templateView(store: TemplateStore, name: string): Promise<TemplateView> {
  const spec = await store.loadSpec(name).catch((e: unknown) => {
    if (e instanceof MvmError && e.kind === "not_found")
      throw new ApiError(404, "template_not_found", `no template named ${name}`);
    throw e;
  });
  const health = await templateHealth(store, name);
  const rev = health.status === "ready" ? health.current?.revision : undefined;
  return {
    name,
    status: health.status,
    problem: health.status === "ready" ? null : (health.problem ?? null),
    revision: rev?.revision_hash ?? health.current?.rev ?? null,
    built_at: rev?.built_at ?? null,
    cpus: spec.vcpus,
    mem_mib: spec.mem_mib,
    snapshot: Boolean(rev?.snapshot),
    snapshot_fingerprint: rev?.snapshot?.fingerprint ?? null,
  };
}

export async function listTemplates(store: TemplateStore): Promise<TemplateView[]> {
  const { templates } = await store.list();
  const out: TemplateView[] = [];
  for (const name of templates) out.push(await templateView(store, name));
  return out;
}
