import { homedir } from "node:os";
import { join } from "node:path";

/** `$MVM_DATA_DIR`, else `$HOME/.mvm` (`/tmp/.mvm` without a home), as in the original mvm. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const d = env.MVM_DATA_DIR?.trim();
  if (d) return d;
  const home = env.HOME?.trim() || homedir() || "/tmp";
  return join(home, ".mvm");
}

/** Every path of the data dir in one place. */
export class DataPaths {
  constructor(readonly root: string = dataDir()) {}

  get templates(): string {
    return join(this.root, "templates");
  }
  template(name: string): string {
    return join(this.templates, name);
  }
  spec(name: string): string {
    return join(this.template(name), "template.json");
  }
  artifacts(name: string): string {
    return join(this.template(name), "artifacts");
  }
  revisions(name: string): string {
    return join(this.artifacts(name), "revisions");
  }
  revision(name: string, rev: string): string {
    return join(this.revisions(name), rev);
  }
  /** The original's layout: artifacts/<rev>. Read only. */
  legacyRevision(name: string, rev: string): string {
    return join(this.artifacts(name), rev);
  }
  current(name: string): string {
    return join(this.template(name), "current");
  }
  get locks(): string {
    return join(this.root, "locks");
  }
  lock(name: string): string {
    return join(this.locks, `template-${name}.lock`);
  }
  get logs(): string {
    return join(this.root, "logs");
  }
  get kit(): string {
    return join(this.root, "kit");
  }
  get vms(): string {
    return join(this.root, "vms");
  }
  vm(name: string): string {
    return join(this.vms, name);
  }
  get registry(): string {
    return join(this.root, "registry");
  }
}
