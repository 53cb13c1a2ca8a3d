import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import type { TemplateRevision } from "../core/revision.js";
import type { TemplateSpec } from "../core/spec.js";
import { readChecksums } from "../store/checksums.js";
import { templateHealth, unhealthyError } from "../store/health.js";
import type { CurrentRevision, TemplateStore } from "../store/templates.js";
import type { VmConfig } from "../hypervisor/backend.js";

// What a VM of a template boots from: the current revision's images, its sizing, and the images'
// SHA-256 from checksums.json (so fingerprints never re-hash a rootfs).

export interface TemplateImage {
  template: string;
  /** The template's settings now (an `edit` since the build shows here, not in `revision`). */
  spec: TemplateSpec;
  current: CurrentRevision;
  revision: TemplateRevision;
  images: VmConfig["images"];
  digests: NonNullable<VmConfig["digests"]>;
  /** checksums.json's files (empty for a revision without one). */
  checksums: Record<string, string>;
}

/** The images of the current revision, or of `revision` (a tag or digest resolved by the caller). */
export async function loadTemplateImage(
  store: TemplateStore,
  template: string,
  revision?: string,
): Promise<TemplateImage> {
  const spec = await store.loadSpec(template);
  let current: CurrentRevision;
  if (revision === undefined) {
    const health = await templateHealth(store, template);
    if (health.status !== "ready" || !health.current?.revision) throw unhealthyError(health);
    current = health.current;
  } else current = await revisionAt(store, template, revision);
  const rev = current.revision;
  if (!rev)
    throw new MvmError("corrupt", `template ${template}: revision ${current.rev} has no revision.json`);
  const a = rev.artifact_paths;
  const images: VmConfig["images"] = {
    kernel: join(current.dir, a.vmlinux),
    rootfs: join(current.dir, a.rootfs),
    ...(a.initrd ? { initrd: join(current.dir, a.initrd) } : {}),
  };
  const digests: NonNullable<VmConfig["digests"]> = {};
  let checksums: Record<string, string> = {};
  try {
    const sums = (await readChecksums(current.dir)).files;
    checksums = sums;
    if (sums[a.vmlinux]) digests.kernel = sums[a.vmlinux];
    if (sums[a.rootfs]) digests.rootfs = sums[a.rootfs];
    if (a.initrd && sums[a.initrd]) digests.initrd = sums[a.initrd];
  } catch {
    // no checksums.json (an original-layout revision): the backend hashes the images itself
  }
  return { template, spec, current, revision: rev, images, digests, checksums };
}

async function revisionAt(store: TemplateStore, template: string, rev: string): Promise<CurrentRevision> {
  const dir = await store.revisionDir(template, rev);
  if (!dir)
    throw new MvmError("not_found", `template ${template} has no revision ${rev} here`, {
      hint: "Pull it, or move the tag with 'mvmctl template tag'.",
    });
  const layout = dir === store.paths.revision(template, rev) ? "current" : "legacy";
  return { rev, dir, revision: await store.loadRevisionAt(dir), layout };
}

/** A VM name for a template: `<template>-<4 hex>` (names are `[a-z0-9][a-z0-9_-]{0,62}`). */
export function defaultVmName(template: string): string {
  return `${template.slice(0, 56).replace(/^[-_]+/, "") || "vm"}-${randomBytes(2).toString("hex")}`;
}
