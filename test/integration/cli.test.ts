/** The `tubular` command as a user meets it: exit codes, stdout and stderr. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acceptanceCases, approxEqual, writeCase } from "../helpers/acceptance.ts";
import { jsonLines, tubular } from "../helpers/cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "tubular-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

const shout = file(
  "shout.yaml",
  `
input:
  word: { scope: tube, type: string }
  hype: { scope: tube, type: integer, default: 1 }
  n: { scope: process, type: number }
nodes:
  x:
    type: exclaim
    depends: [ { value: input.word }, { hype: input.hype } ]
  a: { type: add, depends: [ { left: input.n } ], params: { right: 1 } }
  return: { type: return, depends: [ { word: x.value }, { n: a.value } ] }
`,
);

const failing = file(
  "failing.yaml",
  `
nodes:
  a: { type: count, params: { start: -2 } }
  b: { type: divide, depends: [ { denominator: a.index } ], params: { numerator: 6 } }
  return: { type: return, depends: b.value }
`,
);

describe("cli - help", () => {
  it("tubular --help lists the commands and exits 0", async () => {
    const r = await tubular(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["run", "validate", "schema"]) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
  });

  it("tubular run --help lists every option", async () => {
    const r = await tubular(["run", "--help"]);
    expect(r.code).toBe(0);
    for (const o of ["--epochs", "--input", "--process-inputs", "--runner", "--json", "--free-run", "--duration", "--log-level", "Exit codes"]) expect(r.stdout).toContain(o);
  });

  it("no command prints help and exits 2; an unknown option exits 2", async () => {
    const none = await tubular([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain("Usage: tubular");
    const bad = await tubular(["run", "examples/basic.yaml", "--bogus"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option '--bogus'");
    expect(bad.stdout).toBe("");
  });
});

describe("cli - run", () => {
  it("--input values are JSON when valid JSON, else strings; --process-inputs gives line i to epoch i", async () => {
    const inputs = file("inputs.jsonl", '{"n": 1}\n{"n": 41}\n\n');
    const r = await tubular(["run", shout, "--input", "word=hey", "--input", "hype=3", "--process-inputs", inputs, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([
      { epoch: 0, value: { word: "hey!!!", n: 2 } },
      { epoch: 1, value: { word: "hey!!!", n: 42 } },
    ]);
  });

  it("an --input that parses as JSON of the wrong type is named, exit 2", async () => {
    const r = await tubular(["run", shout, "--input", "word=123", "--epochs", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("input.word");
    expect(r.stdout).toBe("");
  });

  it("a node error exits 1 after printing the epochs before it; stderr names the node, epoch and message", async () => {
    const r = await tubular(["run", failing, "--epochs", "5", "--json"]);
    expect(r.code).toBe(1);
    expect(jsonLines(r.stdout)).toEqual([
      { epoch: 0, value: -3 },
      { epoch: 1, value: -6 },
    ]);
    expect(r.stderr).toContain('node "b"');
    expect(r.stderr).toContain("epoch 2");
    expect(r.stderr).toContain("division by zero");
  });

  it("--processes per-node runs each node in its own process, packed (the default) shares one; both give the same values", async () => {
    const chain = file("chain.yaml", "nodes:\n  a: { type: count }\n  b: { type: add, depends: [ { left: a.index } ], params: { right: 1 } }\n  return: { type: return, depends: b.value }\n");
    const perNode = await tubular(["run", chain, "--epochs", "3", "--json", "--processes", "per-node", "--log-level", "debug"], { timeoutMs: 90_000 });
    const packed = await tubular(["run", chain, "--epochs", "3", "--json", "--log-level", "debug"], { timeoutMs: 90_000 });
    for (const r of [perNode, packed]) {
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout)).toEqual([1, 2, 3].map((value, epoch) => ({ epoch, value })));
    }
    // Runner processes' log lines are prefixed with their runner id.
    expect(perNode.stderr).toMatch(/^\[a\] /m);
    expect(perNode.stderr).toMatch(/^\[b\] /m);
    expect(packed.stderr).toMatch(/^\[\+a\] /m);
    expect(packed.stderr).not.toMatch(/^\[b\] /m);
  }, 200_000);

  it("--processes takes packed or per-node, and only with --runner zmq", async () => {
    const bad = await tubular(["run", "examples/basic.yaml", "--processes", "many"], { timeoutMs: 90_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--processes.*many.*packed, per-node/s);
    const local = await tubular(["run", "examples/basic.yaml", "--runner", "local", "--processes", "per-node"], { timeoutMs: 90_000 });
    expect(local.code).toBe(2);
    expect(local.stderr).toContain("--processes needs --runner zmq");
  }, 200_000);

  it("an invalid graph exits 2 with file: path: reason", async () => {
    const bad = file("bad.yaml", "nodes:\n  a: { type: count }\n  b: { type: exclaim, depends: a.nothing }\n");
    const r = await tubular(["run", bad, "--json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${bad}: nodes.b.depends: "a.nothing"`);
  });

  it("a process input missing at some epoch exits 2 after the epochs before it", async () => {
    const inputs = file("partial.jsonl", '{"n": 1}\n{}\n');
    const r = await tubular(["run", shout, "--input", "word=x", "--process-inputs", inputs, "--json"]);
    expect(r.code).toBe(2);
    expect(jsonLines(r.stdout)).toHaveLength(1);
    expect(r.stderr).toMatch(/epoch 1 .*input "n"/);
  });

  it("a malformed --process-inputs line is named with its line number", async () => {
    const inputs = file("broken.jsonl", '{"n": 1}\n[1]\n');
    const r = await tubular(["run", shout, "--input", "word=x", "--process-inputs", inputs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("broken.jsonl:2");
  });

  it("without --json, one readable line per epoch", async () => {
    const r = await tubular(["run", "examples/basic.yaml", "--epochs", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("epoch 0: 0\nepoch 1: 2\n");
  });

  it("--free-run --epochs N prints N epochs in order and reports the rate on stderr", async () => {
    const r = await tubular(["run", "examples/basic.yaml", "--free-run", "--epochs", "50", "--json"]);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout).map((l) => l.value)).toEqual([...Array(50).keys()].map((i) => i * 2));
    expect(r.stderr).toMatch(/^50 epochs in [\d.]+ s \([\d.]+ epochs\/s\)\n$/);
  });

  it("--free-run --duration stops after that long", async () => {
    const started = Date.now();
    const r = await tubular(["run", "examples/basic.yaml", "--free-run", "--duration", "0.5", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    // New epochs stop at 0.5 s; the epochs then in flight (up to the 512-epoch window) finish
    // before the summary, which takes window / throughput: milliseconds on an idle machine,
    // over half a second when other work holds both cores. So the time printed is at least the
    // duration and at most the duration plus that drain, bounded here generously.
    const m = /^(\d+) epochs in (\d+\.\d+) s/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeGreaterThanOrEqual(0.5);
    expect(Number(m![2])).toBeLessThan(3.5);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("--free-run with a node error exits 1 after the epochs before it", async () => {
    const r = await tubular(["run", failing, "--free-run", "--epochs", "10", "--json"]);
    expect(r.code).toBe(1);
    expect(jsonLines(r.stdout).map((l) => l.value)).toEqual([-3, -6]);
    expect(r.stderr).toContain('node "b" failed at epoch 2');
  });
});

describe("cli - validate and schema", () => {
  it("validate exits 0 for a valid graph, 2 for an invalid one with the error", async () => {
    const ok = await tubular(["validate", "test/fixtures/graphs/valid-basic.yaml"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid");
    const bad = await tubular(["validate", "test/fixtures/graphs/invalid-cycle.yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("invalid-cycle.yaml: nodes.a.depends: the graph has a cycle: a -> c -> b -> a");
  });

  it("validate without --input reports a graph with a required tube input valid, and lists the input", async () => {
    const r = await tubular(["validate", "test/fixtures/graphs/valid-required-input.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/required tube inputs.*\n\s+factor \(number\): the multiplier/);
    expect(r.stdout).toMatch(/process inputs.*\n\s+x \(number, default 1\)/);
  });

  it("validate with --input checks the inputs as run would", async () => {
    const wrong = await tubular(["validate", "test/fixtures/graphs/valid-required-input.yaml", "--input", "factor=\"3\""]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("input.factor");
    const right = await tubular(["validate", "test/fixtures/graphs/valid-required-input.yaml", "--input", "factor=3"]);
    expect(right.code).toBe(0);
    expect(right.stdout).not.toContain("required tube inputs");
  });

  it("schema prints the JSON Schema of the graph format", async () => {
    const r = await tubular(["schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown>; required: string[] };
    expect(schema.required).toContain("nodes");
    expect(Object.keys(schema.properties)).toContain("input");
  });
});

describe("cli - acceptance cases through tubular run", () => {
  for (const c of acceptanceCases()) {
    it(`${c.name}`, async () => {
      const { file: graph, cleanup } = writeCase(c);
      try {
        const args = ["run", graph, "--json", "--epochs", String(c.epochs)];
        for (const [k, v] of Object.entries(c.tube_input ?? {})) args.push("--input", `${k}=${JSON.stringify(v)}`);
        if (c.process_inputs) {
          const jsonl = path.join(path.dirname(graph), "inputs.jsonl");
          writeFileSync(jsonl, c.process_inputs.map((i) => JSON.stringify(i)).join("\n"));
          args.push("--process-inputs", jsonl);
        }
        const r = await tubular(args);
        const values = jsonLines(r.stdout).map((l) => l.value);
        expect(approxEqual(values, c.expect), `got ${JSON.stringify(values)}, expected ${JSON.stringify(c.expect)}\n${r.stderr}`).toBe(true);
        if (c.expect_error) {
          expect(r.code).toBe(1);
          expect(r.stderr).toContain(`node "${c.expect_error.node}"`);
          expect(r.stderr).toContain(`epoch ${c.expect_error.epoch}`);
          expect(r.stderr).toContain(c.expect_error.contains);
        } else {
          expect(r.code, r.stderr).toBe(0);
        }
      } finally {
        cleanup();
      }
    });
  }
});
