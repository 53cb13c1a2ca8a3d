import { DataPaths } from "../store/paths.js";
import { TemplateStore } from "../store/templates.js";

/**
 * What every command handler gets: the data dir and the store, made once per process. The data dir
 * itself is checked and created before the command runs (program.ts, host/data-dir.ts).
 */
export class CliContext {
  private _paths: DataPaths | undefined;
  private _store: TemplateStore | undefined;
  debug = false;

  get paths(): DataPaths {
    this._paths ??= new DataPaths();
    return this._paths;
  }

  get store(): TemplateStore {
    this._store ??= new TemplateStore(this.paths);
    return this._store;
  }
}

export type Register = (parent: import("commander").Command, ctx: CliContext) => void | Promise<void>;
