import { spawn } from "node:child_process";
import { MvmError } from "../../core/errors.js";

// Docker credential helpers (`credsStore` / `credHelpers` in the Docker config): the program
// `docker-credential-<name>` is run with the single argument `get`, the registry's host on stdin, and
// answers {"ServerURL", "Username", "Secret"} on stdout, or exits non-zero with "credentials not
// found". Its output holds a secret: it is bounded, parsed, and never shown.

/** Helper names are one word, never a path: the program is found on PATH like docker finds it. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_OUTPUT = 64 * 1024;
const TIMEOUT_MS = 30_000;

export interface HelperCredentials {
  username: string;
  password: string;
}

function helperFailure(program: string, why: string): MvmError {
  return new MvmError("external", `credential helper ${program} ${why}`, {
    hint: "Check the helper (try 'docker login'), or set MVM_OCI_USERNAME and MVM_OCI_PASSWORD.",
  });
}

/** Runs `docker-credential-<helper> get` for a registry host; undefined when it holds no credentials. */
export async function credentialsFromHelper(
  helper: string,
  serverUrl: string,
): Promise<HelperCredentials | undefined> {
  if (!HELPER_NAME.test(helper))
    throw new MvmError(
      "corrupt",
      `the Docker config names an invalid credential helper ${JSON.stringify(helper.slice(0, 64))}`,
    );
  const program = `docker-credential-${helper}`;
  const { code, stdout, timedOut } = await new Promise<{ code: number; stdout: string; timedOut: boolean }>(
    (resolve, reject) => {
      const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "ignore"] });
      const chunks: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, TIMEOUT_MS);
      child.stdout.on("data", (b: Buffer) => {
        size += b.length;
        if (size > MAX_OUTPUT) child.kill("SIGKILL");
        else chunks.push(b);
      });
      child.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          e.code === "ENOENT"
            ? helperFailure(program, "is not on PATH (the Docker config names it)")
            : helperFailure(program, `could not be run (${e.code ?? e.message})`),
        );
      });
      child.on("close", (c, signal) => {
        clearTimeout(timer);
        resolve({
          code: c ?? (signal ? 128 : 1),
          stdout: Buffer.concat(chunks).toString("utf8"),
          timedOut,
        });
      });
      child.stdin.on("error", () => {}); // a helper that exits without reading stdin
      child.stdin.end(serverUrl);
    },
  );
  if (timedOut) throw helperFailure(program, `did not answer within ${TIMEOUT_MS / 1000} s`);
  if (code !== 0) {
    // docker-credential-helpers answer "credentials not found in native keychain" on stdout.
    if (/credentials not found/i.test(stdout)) return undefined;
    throw helperFailure(program, `get failed (exit status ${code})`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    throw helperFailure(program, "answered with something that is not JSON");
  }
  if (typeof parsed?.Secret !== "string" || parsed.Secret === "")
    throw helperFailure(program, "answered without a secret");
  return {
    username: typeof parsed.Username === "string" ? parsed.Username : "",
    password: parsed.Secret,
  };
}
