// What a build reports while it runs, as plain data: the builder emits these and any renderer (the CLI's
// progress line, a daemon's event stream) consumes them without depending on the builder.

/** One thing nix said during a build, decoded from its `--log-format internal-json` stream. */
export type NixEvent =
  | { kind: "build-start"; id: number; drv: string; name: string; text: string }
  | { kind: "activity-start"; id: number; text: string }
  | { kind: "stop"; id: number }
  | { kind: "log"; id: number; name: string | undefined; line: string }
  | { kind: "phase"; id: number; name: string | undefined; phase: string }
  | { kind: "progress"; done: number; expected: number; running: number; failed: number }
  | { kind: "message"; level: number; text: string }
  | { kind: "raw"; text: string };

/** A step of the build pipeline, a warning for the user, or an event relayed from nix. */
export type BuildProgress =
  | { stage: "step"; message: string }
  | { stage: "warning"; message: string }
  | { stage: "nix"; event: NixEvent };
