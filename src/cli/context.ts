import { DataPaths, ensureDataDir } from "../store/paths.js";
import { TemplateStore } from "../store/templates.js";

/** What every command handler gets: the data dir and the store, created once per process. */
export class CliContext {
  private _paths: DataPaths | undefined;
  private _store: TemplateStore | undefined;
  debug = false;

  get paths(): DataPaths {
    if (!this._paths) {
      this._paths = new DataPaths();
      ensureDataDir(this._paths.root);
    }
    return this._paths;
  }

  get store(): TemplateStore {
    this._store ??= new TemplateStore(this.paths);
    return this._store;
  }
}

export type Register = (parent: import("commander").Command, ctx: CliContext) => void | Promise<void>;
