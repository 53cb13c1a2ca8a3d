import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { newChecksums } from "../../src/core/checksums.js";
import { newSpec } from "../../src/core/spec.js";
import { writeChecksums } from "../../src/store/checksums.js";
import { DataPaths } from "../../src/store/paths.js";
import { TemplateStore } from "../../src/store/templates.js";
import { runCli, tempDir } from "../helpers/cli.js";

// Hostile files on disk: template.json, revision.json, checksums.json, the `current` link and TOML configs.
// Each case must end in one clear `error:` line and a non-zero exit, print no stack trace, run no command
// embedded in the input, and write nothing outside the data dir.

const CANARY_DIR = tempDir("mvm-canary-");
const CANARY = join(CANARY_DIR, "pwned");
const REV = "0123456789abcdfghijklmnpqrsvwxyz";

const goodSpec = newSpec({
  template_id: "t",
  flake_ref: "github:org/repo",
  profile: "default",
  role: "worker",
  vcpus: 2,
  mem_mib: 1024,
  data_disk_mib: 0,
});

const goodRevision = {
  schema_version: 1,
  revision_hash: REV,
  flake_ref: "github:org/repo",
  flake_lock_hash: "sha256-x",
  artifact_paths: { vmlinux: "kernel", rootfs: "rootfs.ext4", fc_base_config: "fc-base.json" },
  built_at: "2026-11-25T10:00:00Z",
  profile: "default",
  role: "worker",
  vcpus: 2,
  mem_mib: 1024,
  data_disk_mib: 0,
  snapshot: null,
};

/** A data dir with template `t` built at REV: kernel, rootfs, revision.json and checksums.json. */
async function seed(): Promise<string> {
  const data = tempDir("mvm-hostile-seed-");
  const store = new TemplateStore(new DataPaths(data));
  await store.writeSpec(goodSpec);
  const dir = store.paths.revision("t", REV);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel"), "kernel bytes");
  writeFileSync(join(dir, "rootfs.ext4"), "rootfs bytes");
  writeFileSync(join(dir, "revision.json"), JSON.stringify(goodRevision));
  await writeChecksums(dir, "t", REV);
  await store.setCurrent("t", REV);
  return data;
}

interface FileCase {
  what: string;
  /** Path relative to the data dir, and its hostile content (or a function that damages the tree). */
  mutate: (data: string) => void;
  args: string[];
}

const specPath = "templates/t/template.json";
const revPath = `templates/t/artifacts/revisions/${REV}/revision.json`;
const sumsPath = `templates/t/artifacts/revisions/${REV}/checksums.json`;
const deep = "[".repeat(200_000) + "]".repeat(200_000);

function write(rel: string, content: string | Buffer) {
  return (data: string) => writeFileSync(join(data, rel), content);
}

const specCases: [string, string | Buffer][] = [
  ["empty", ""],
  ["truncated", JSON.stringify(goodSpec).slice(0, 40)],
  ["null", "null"],
  ["array", "[]"],
  ["string", '"template"'],
  ["empty object", "{}"],
  ["newer schema", JSON.stringify({ ...goodSpec, schema_version: 7 })],
  ["negative schema", JSON.stringify({ ...goodSpec, schema_version: -1 })],
  ["schema as string", JSON.stringify({ ...goodSpec, schema_version: "1" })],
  ["traversal id", JSON.stringify({ ...goodSpec, template_id: "../../etc" })],
  ["other id", JSON.stringify({ ...goodSpec, template_id: "other" })],
  ["command in flake", JSON.stringify({ ...goodSpec, flake_ref: `.;touch ${CANARY}` })],
  ["substitution in flake", JSON.stringify({ ...goodSpec, flake_ref: `$(touch ${CANARY})` })],
  ["numeric flake", JSON.stringify({ ...goodSpec, flake_ref: 7 })],
  ["zero cpus", JSON.stringify({ ...goodSpec, vcpus: 0 })],
  ["huge cpus", JSON.stringify({ ...goodSpec, vcpus: 100000 })],
  ["fractional cpus", JSON.stringify({ ...goodSpec, vcpus: 2.5 })],
  ["negative memory", JSON.stringify({ ...goodSpec, mem_mib: -1 })],
  ["overflowing memory", JSON.stringify({ ...goodSpec, mem_mib: 1e300 })],
  ["traversal profile", JSON.stringify({ ...goodSpec, profile: "../../x" })],
  ["spaced role", JSON.stringify({ ...goodSpec, role: "a b" })],
  ["huge timestamp", JSON.stringify({ ...goodSpec, created_at: "9".repeat(100_000) })],
  ["deep nesting", deep],
  ["byte order mark", `\ufeff${JSON.stringify(goodSpec)}`],
  ["NUL bytes", Buffer.from([0, 0, 0, 0])],
  ["binary garbage", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256))],
];

const revisionCases: [string, unknown][] = [
  ["null", null],
  ["array", []],
  ["newer schema", { ...goodRevision, schema_version: 2 }],
  ["traversal revision hash", { ...goodRevision, revision_hash: "../../../../tmp" }],
  ["shell in revision hash", { ...goodRevision, revision_hash: "$(id)" }],
  [
    "traversal kernel name",
    { ...goodRevision, artifact_paths: { ...goodRevision.artifact_paths, vmlinux: "../../../etc/passwd" } },
  ],
  [
    "absolute rootfs",
    { ...goodRevision, artifact_paths: { ...goodRevision.artifact_paths, rootfs: "/etc/shadow" } },
  ],
  ["missing artifact paths", { ...goodRevision, artifact_paths: undefined }],
  [
    "negative size",
    { ...goodRevision, artifact_paths: { ...goodRevision.artifact_paths, sizes: { vmlinux_bytes: -5 } } },
  ],
  [
    "string size",
    { ...goodRevision, artifact_paths: { ...goodRevision.artifact_paths, sizes: { rootfs_bytes: "9" } } },
  ],
  ["snapshot not an object", { ...goodRevision, snapshot: "yes" }],
  ["snapshot without sizes", { ...goodRevision, snapshot: { created_at: "x" } }],
  [
    "snapshot with a nested fingerprint",
    {
      ...goodRevision,
      snapshot: {
        created_at: "x",
        vmstate_size_bytes: 1,
        mem_size_bytes: 1,
        boot_args: "",
        vcpus: 1,
        mem_mib: 256,
        fingerprint: { nested: { a: 1 } },
      },
    },
  ],
  ["bad nix path", { ...goodRevision, nix_out_path: "/etc/passwd" }],
  ["bad system", { ...goodRevision, system: "x86_64-linux; rm -rf /" }],
  ["embedded spec with bad name", { ...goodRevision, spec: { ...goodSpec, template_id: "../x" } }],
  ["cpus as float", { ...goodRevision, vcpus: 1.5 }],
];

const sha = "b".repeat(64);
const sumsCases: [string, unknown][] = [
  ["traversal file", { ...newChecksums("t", REV, {}), files: { "../../x": sha } }],
  ["absolute file", { ...newChecksums("t", REV, {}), files: { "/etc/passwd": sha } }],
  ["unknown file", { ...newChecksums("t", REV, {}), files: { "evil.sh": sha } }],
  ["snapshot traversal", { ...newChecksums("t", REV, {}), files: { "snapshot/../../x": sha } }],
  ["bad digest", { ...newChecksums("t", REV, {}), files: { kernel: "xyz" } }],
  ["uppercase digest", { ...newChecksums("t", REV, {}), files: { kernel: "B".repeat(64) } }],
  ["newer schema", { ...newChecksums("t", REV, { kernel: sha }), schema_version: 5 }],
  ["files is an array", { ...newChecksums("t", REV, {}), files: ["kernel"] }],
  ["wrong digest", newChecksums("t", REV, { kernel: sha, "rootfs.ext4": sha })],
  [
    "too many entries",
    {
      ...newChecksums("t", REV, {}),
      files: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, sha])),
    },
  ],
  ["not JSON", "{{{"],
];

const cases: FileCase[] = [
  ...specCases.map(([what, content]) => ({
    what: `template.json: ${what}`,
    mutate: write(specPath, content),
    args: ["template", "info", "t"],
  })),
  ...revisionCases.map(([what, content]) => ({
    what: `revision.json: ${what}`,
    mutate: write(revPath, JSON.stringify(content)),
    args: ["template", "info", "t"],
  })),
  ...sumsCases.map(([what, content]) => ({
    what: `checksums.json: ${what}`,
    mutate: write(sumsPath, typeof content === "string" ? content : JSON.stringify(content)),
    args: ["template", "verify", "t"],
  })),
  {
    what: "template.json is a directory",
    mutate: (d) => {
      rmSync(join(d, specPath));
      mkdirSync(join(d, specPath));
    },
    args: ["template", "info", "t"],
  },
  {
    what: "current points outside the template",
    mutate: (d) => {
      rmSync(join(d, "templates/t/current"));
      symlinkSync("../../../../../etc", join(d, "templates/t/current"));
    },
    args: ["template", "info", "t"],
  },
  {
    what: "current is a regular file",
    mutate: (d) => {
      rmSync(join(d, "templates/t/current"));
      writeFileSync(join(d, "templates/t/current"), REV);
    },
    args: ["template", "info", "t"],
  },
  {
    what: "current names a missing revision",
    mutate: (d) => {
      rmSync(join(d, "templates/t/current"));
      symlinkSync("artifacts/revisions/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", join(d, "templates/t/current"));
    },
    args: ["template", "info", "t"],
  },
  {
    what: "checksums.json missing",
    mutate: (d) => rmSync(join(d, sumsPath)),
    args: ["template", "verify", "t"],
  },
  {
    what: "artifact tampered",
    mutate: (d) => writeFileSync(join(d, `templates/t/artifacts/revisions/${REV}/kernel`), "evil"),
    args: ["template", "verify", "t"],
  },
];

const tomlCases: [string, string][] = [
  ["not TOML", "flake_ref = ["],
  ["missing flake_ref", "[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = 512\n"],
  ["unknown key", "flake_ref = '.'\nbogus = 1\nvariants = []\n"],
  ["substitution in flake_ref", `flake_ref = '$(touch ${CANARY})'\nvariants = []\n`],
  [
    "traversal variant name",
    "flake_ref = '.'\n[[variants]]\nname = '../../x'\nrole = 'w'\nvcpus = 1\nmem_mib = 512\n",
  ],
  ["bad role", "flake_ref = '.'\n[[variants]]\nrole = 'w;id'\nvcpus = 1\nmem_mib = 512\n"],
  ["zero cpus", "flake_ref = '.'\n[[variants]]\nrole = 'w'\nvcpus = 0\nmem_mib = 512\n"],
  ["tiny memory", "flake_ref = '.'\n[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = 1\n"],
  ["memory as string", "flake_ref = '.'\n[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = '4G'\n"],
  [
    "duplicate names",
    "flake_ref = '.'\n[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = 512\n[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = 512\n",
  ],
  ["variants not an array", "flake_ref = '.'\nvariants = 3\n"],
  [
    "too many variants",
    `flake_ref = '.'\n${"[[variants]]\nrole = 'w'\nvcpus = 1\nmem_mib = 512\n".repeat(70)}`,
  ],
  ["newer schema", "schema_version = 9\nflake_ref = '.'\nvariants = []\n"],
  ["bad template_id", "template_id = 'A B'\nflake_ref = '.'\nvariants = []\n"],
  ["empty variants", "flake_ref = '.'\nvariants = []\n"],
  ["binary", "\u0000\u0001\u0002"],
];

test(`hostile files: ${cases.length + tomlCases.length} cases each fail cleanly without side effects`, async () => {
  const seedDir = await seed();
  const failures: string[] = [];
  const outside = tempDir("mvm-outside-");
  const run = async (what: string, args: string[], data: string, cwd: string) => {
    const r = await runCli(args, { dataDir: data, cwd, env: { MVM_LOCK_TIMEOUT_MS: "2000" } });
    const first = r.stderr.split("\n")[0] ?? "";
    if (r.code === 0 || r.code === null) failures.push(`${what}: exit ${r.code}`);
    else if (!/^error: \S/.test(first))
      failures.push(`${what}: first line ${JSON.stringify(first.slice(0, 200))}`);
    else if (/\n\s+at \S+ \(/.test(r.stderr)) failures.push(`${what}: stack trace`);
    else if (first.length > 600) failures.push(`${what}: error line of ${first.length} characters`);
  };
  for (let i = 0; i < cases.length; i += 6) {
    await Promise.all(
      cases.slice(i, i + 6).map(async (c) => {
        const data = tempDir("mvm-hostile-");
        cpSync(seedDir, data, { recursive: true, verbatimSymlinks: true });
        c.mutate(data);
        await run(c.what, c.args, data, outside);
      }),
    );
  }
  for (let i = 0; i < tomlCases.length; i += 6) {
    await Promise.all(
      tomlCases.slice(i, i + 6).map(async ([what, text]) => {
        const data = tempDir("mvm-hostile-");
        const cfgDir = tempDir("mvm-toml-");
        writeFileSync(join(cfgDir, "config.toml"), text);
        await run(
          `TOML: ${what}`,
          ["template", "build", "app", "--config", join(cfgDir, "config.toml")],
          data,
          outside,
        );
        // A config that fails validation creates no template.
        if (existsSync(join(data, "templates")) && readdirSync(join(data, "templates")).length > 0)
          failures.push(`TOML: ${what}: created ${readdirSync(join(data, "templates")).join(",")}`);
      }),
    );
  }
  assert.deepEqual(failures, []);
  assert.equal(existsSync(CANARY), false, "a command embedded in a file ran");
  assert.deepEqual(readdirSync(outside), [], "nothing was written outside the data dir");
});
