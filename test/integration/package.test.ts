/**
 * The package as a user gets it: `npm pack`, the tarball installed into a new folder that has
 * no TypeScript tooling of its own, and used from plain JavaScript (the API, ZmqRunner's
 * runner processes, a graph with a TypeScript node, the `tubular` command) and from
 * TypeScript (a consumer file type-checked against the shipped .d.ts files).
 *
 * Packs the dist/ the global set-up built (`npm pack --ignore-scripts`: building again here
 * would replace dist/ under the other test files' feet). Installs with --prefer-offline, from
 * npm's cache when it has the dependencies.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tubeJsonSchema } from "../../src/spec/schema.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { waitForExit } from "../helpers/processes.ts";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded); the child is killed by pid if it overruns. */
function run(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const pkg = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string; allowScripts: Record<string, boolean> };

let dir: string;
let app: string;
let tarball: string;
let install: Ran;

const GRAPH = `noob_id: scaled
input:
  factor: { scope: tube, type: number, default: 2 }
nodes:
  count: { type: count }
  scale:
    type: multiply
    depends:
      - left: count.index
      - right: input.factor
  return: { type: return, depends: scale.value }
`;

// TypeScript a loader must transform (an enum: Node's own type stripping refuses it too),
// importing the package by name, as a user's node module does.
const TS_NODES = `import { NoEvent } from "tubular";

enum Parity {
  Even = "even",
  Odd = "odd",
}

export function parity({ value }: { value: number }): string {
  return value % 2 === 0 ? Parity.Even : Parity.Odd;
}

export function oddOnly({ value }: { value: number }): number | typeof NoEvent {
  return value % 2 === 1 ? value : NoEvent;
}
`;

const TS_GRAPH = `noob_id: typed
nodes:
  count: { type: count }
  parity: { type: ./nodes.ts#parity, depends: [{ value: count.index }] }
  return: { type: return, depends: parity.value }
`;

const MAIN = `import { readFileSync } from "node:fs";
import { loadTube, LocalRunner, ZmqRunner } from "tubular";
import schema from "tubular/schema.json" with { type: "json" };

const quiet = { write: () => true };
// Generous: on a machine shared with other work, processes start slowly and a busy driver
// (loading a graph's TypeScript) can fall silent for seconds; this test is about the package,
// not about how fast a silent peer is noticed.
const options = { output: quiet, initTimeoutMs: 90_000, heartbeatMs: 1_000, commandTimeoutMs: 30_000 };
const commandLine = (pid) => readFileSync(\`/proc/\${pid}/cmdline\`, "utf8").split("\\0").filter(Boolean);
const out = { schemaId: schema.$id };

const tube = await loadTube("graph.yaml", { input: { factor: 3 } });
const local = new LocalRunner(tube);
await local.init();
out.local = [await local.process(), await local.process(), await local.process()];
await local.deinit();

const zmq = new ZmqRunner(tube, options);
await zmq.init();
out.zmq = [await zmq.process(), await zmq.process(), await zmq.process()];
out.zmqRunners = Object.values(zmq.pids()).map((pid) => ({ pid, argv: commandLine(pid) }));
await zmq.deinit();

// No TypeScript loader in this process until a graph names a TypeScript module.
out.tsBeforeGraph = await import("./nodes.ts").then(() => "imported", (err) => err.code);
const typed = await loadTube("typed.yaml");
const typedRunner = new ZmqRunner(typed, options);
await typedRunner.init();
out.typed = [await typedRunner.process(), await typedRunner.process(), await typedRunner.process()];
out.typedNodes = typedRunner.status().nodes;
out.typedRunners = Object.values(typedRunner.pids()).map((pid) => ({ pid, argv: commandLine(pid) }));
await typedRunner.deinit();

process.stdout.write(\`RESULT \${JSON.stringify(out)}\\n\`);
`;

const CONSUMER_TS = `import { loadTube, LocalRunner, ZmqRunner, defineNode, NoEvent, SpecError, type EpochResult, type Tube } from "tubular";

const tube: Tube = await loadTube("graph.yaml", { input: { factor: 2 } });
const runner = new LocalRunner(tube);
runner.on("epoch", (result: EpochResult) => console.log(result.epoch));
await runner.init();
const value: unknown = await runner.process();
await runner.deinit();
const zmq: ZmqRunner = new ZmqRunner(tube);
const node = defineNode({ signals: ["value"], process: () => NoEvent });
const failed: boolean = new Error() instanceof SpecError;
console.log(value, zmq, node, failed);

// @ts-expect-error a graph is loaded from a path, not a number: the shipped types say so
await loadTube(42);
`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "tubular-package-"));
  const packed = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], projectRoot);
  expect(packed.code, packed.stderr).toBe(0);
  tarball = path.join(dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
  app = path.join(dir, "app");
  const files: Record<string, string> = {
    // The allowScripts the README tells users to add. From a local tarball (not the registry)
    // npm counts tubular's own `prepare` as an install script too, keyed by the tarball's
    // path; it must not run there (the package ships built).
    "package.json": JSON.stringify({ name: "app", private: true, type: "module", dependencies: { tubular: `file:${tarball}` }, allowScripts: { ...pkg.allowScripts, [`file:${tarball}`]: false } }, null, 2),
    "graph.yaml": GRAPH,
    "bad.yaml": "nodes:\n  a: { type: no-such-node }\n",
    "nodes.ts": TS_NODES,
    "typed.yaml": TS_GRAPH,
    "main.mjs": MAIN,
    "consumer.ts": CONSUMER_TS,
    "tsconfig.json": JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        // The consumer's code against the declarations, as users compile (checking every
        // dependency's own .d.ts files too took minutes on 2 cores).
        skipLibCheck: true,
        types: ["node"],
        // The user's own @types/node; this folder has no TypeScript tooling, so the project's.
        typeRoots: [path.join(projectRoot, "node_modules/@types")],
      },
      files: ["consumer.ts"],
    }),
  };
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(app, name), text);
  // better-sqlite3 downloads its prebuilt binary from GitHub, which is out of reach here, and then
  // compiles SQLite from source: 115 s on an idle 2-core machine, over 240 s with a core busy.
  // What this test is about is tubular's package, so it hands better-sqlite3 the binary the
  // project already has, as a local prebuild (prebuild-install's documented fallback): 10 s.
  const sqlite = path.join(projectRoot, "node_modules/better-sqlite3");
  const sqliteVersion = (JSON.parse(readFileSync(path.join(sqlite, "package.json"), "utf8")) as { version: string }).version;
  const prebuilds = path.join(dir, "prebuilds");
  mkdirSync(prebuilds);
  const prebuilt = path.join(prebuilds, `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`);
  expect((await run("tar", ["-czf", prebuilt, "build/Release/better_sqlite3.node"], sqlite)).code).toBe(0);
  install = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], app, 240_000, { npm_config_better_sqlite3_local_prebuilds: prebuilds });
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("package - the packed tarball installed as a dependency", () => {
  it("ships compiled JavaScript, declarations, the schema and the command, and no TypeScript source", async () => {
    const list = await run("tar", ["-tzf", tarball], dir);
    const files = list.stdout.split("\n").filter(Boolean);
    for (const f of ["package/package.json", "package/README.md", "package/bin/tubular.js", "package/dist/schema.json", "package/dist/src/index.js", "package/dist/src/index.d.ts", "package/dist/src/runner/zmq/runner-main.bundle.js", "package/dist/nodes/index.js"]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual(examplesOnly(files));
    expect(files.some((f) => f.startsWith("package/src/") || f.startsWith("package/test/") || f.startsWith("package/bench/"))).toBe(false);
  });

  it("installs with every install script allowed, and without TypeScript tooling", () => {
    expect(install.code, install.stderr).toBe(0);
    // npm lists the dependencies whose install scripts it skipped; allowScripts covers them all.
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/install script|allowScripts/i);
    expect(existsSync(path.join(app, "node_modules/tubular/dist/src/index.js"))).toBe(true);
    expect(existsSync(path.join(app, "node_modules/typescript"))).toBe(false);
  });

  it("runs from plain JavaScript: LocalRunner, ZmqRunner from compiled runners, a TypeScript node, the schema", { timeout: 240_000 }, async () => {
    const r = await run(process.execPath, ["main.mjs"], app, 200_000);
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, r.stdout + r.stderr).toBeDefined();
    const out = JSON.parse(line!.slice("RESULT ".length)) as {
      schemaId: string;
      local: number[];
      zmq: number[];
      zmqRunners: Array<{ pid: number; argv: string[] }>;
      tsBeforeGraph: string;
      typed: string[];
      typedNodes: Record<string, { runner: string }>;
      typedRunners: Array<{ pid: number; argv: string[] }>;
    };
    expect(out.schemaId).toBe(tubeJsonSchema().$id);
    expect(out.local).toEqual([0, 3, 6]);
    expect(out.zmq).toEqual([0, 3, 6]);
    const runnerMain = path.join(app, "node_modules/tubular/dist/src/runner/zmq/runner-main.bundle.js");
    for (const runner of [...out.zmqRunners, ...out.typedRunners]) {
      // Plain JavaScript from the package (the build's runner bundle), no loader flag.
      expect(runner.argv[1]).toBe(runnerMain);
      expect(runner.argv.join(" ")).not.toMatch(/--import|--loader|tsx/);
    }
    expect(out.zmqRunners.length).toBeGreaterThan(0);
    // Node refused the .ts file before a graph named it: no loader was registered up front.
    expect(["ERR_UNKNOWN_FILE_EXTENSION", "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX"]).toContain(out.tsBeforeGraph);
    expect(out.typed).toEqual(["even", "odd", "even"]);
    // The TypeScript node ran in a runner process, which registered the loader itself.
    expect(out.typedNodes.parity!.runner).not.toBe("command");
    expect(await waitForExit([...out.zmqRunners, ...out.typedRunners].map((p) => p.pid), 10_000)).toEqual([]);
  });

  it("runs the tubular command: npx tubular run, and the installed bin for version, validate and a TypeScript node", { timeout: 180_000 }, async () => {
    const local = await run("npx", ["--no", "--", "tubular", "run", "graph.yaml", "--epochs", "3", "--json", "--input", "factor=5"], app);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { value: number }).value)).toEqual([0, 5, 10]);
    // node_modules/.bin/tubular: the link npm made to the package's bin, run through its #! line.
    const bin = path.join(app, "node_modules/.bin/tubular");
    const version = await run(bin, ["--version"], app);
    expect(version.stdout.trim()).toBe(pkg.version);
    // The TypeScript node through the command, in its own process (ZmqRunner's runner processes
    // loading it are proven above, with an init timeout that suits a loaded machine).
    const typed = await run(bin, ["run", "typed.yaml", "--runner", "local", "--epochs", "2", "--json"], app, 60_000);
    expect(typed.code, typed.stderr).toBe(0);
    expect(typed.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { value: string }).value)).toEqual(["even", "odd"]);
    const valid = await run(bin, ["validate", "graph.yaml"], app);
    expect(valid.code, valid.stderr).toBe(0);
    const invalid = await run(bin, ["validate", "bad.yaml"], app);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/bad\.yaml.*no-such-node/s);
  });

  it("type-checks a TypeScript consumer against the shipped declarations", { timeout: 120_000 }, async () => {
    const tsc = path.join(projectRoot, "node_modules/typescript/bin/tsc");
    const r = await run(process.execPath, [tsc, "-p", "tsconfig.json"], app, 120_000);
    // No error, not even an unused @ts-expect-error: were the declarations missing or `any`,
    // that directive would fail the check, so it has teeth.
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});

/** The TypeScript files a user may start from: the examples, and nothing else. */
function examplesOnly(files: string[]): string[] {
  return files.filter((f) => f.startsWith("package/examples/") && f.endsWith(".ts"));
}
