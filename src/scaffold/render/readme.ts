import type { PlanOrigin, TemplatePlan } from "../model.js";
import type { Target } from "./workloads.js";

// README.md for a scaffold: what it is and the next commands. The planner's summary and notes are not
// copied here; they stay in mvm-template-prompt.json as data.

export function renderReadme(name: string, plan: TemplatePlan, origin: PlanOrigin, target: Target): string {
  const lines = [
    `# ${name}`,
    "",
    `An mvm microVM template scaffolded by \`mvmctl template init\` (${plan.primaryPreset} preset` +
      `${plan.features.length ? `; features: ${plan.features.join(", ")}` : ""}).`,
    "",
    target === "offline"
      ? "This flake needs no nixpkgs: `mvmctl build` gives it the mvm Nix library installed with mvmctl and this machine's offline guest kit, so it builds with no network."
      : "This flake takes programs from nixpkgs and builds for x86_64-linux and aarch64-linux; `mvmctl build` gives it the mvm Nix library installed with mvmctl.",
    "",
    "## Next steps",
    "",
    "```sh",
    "mvmctl build              # creates or updates the template mvm.toml describes, and builds it",
    "mvmctl build --snapshot   # boot once, wait for health checks, save a snapshot",
    `mvmctl up ${name} -d`,
    "```",
    "",
    "Edit `flake.nix` to change packages, services and health checks, `mvm.toml` for the name and sizing.",
  ];
  if (origin.mode !== "preset")
    lines.push(
      "",
      "The plan this scaffold was generated from is in `mvm-template-prompt.json`; `flake.nix` remains the source of truth.",
    );
  lines.push("");
  return lines.join("\n");
}
