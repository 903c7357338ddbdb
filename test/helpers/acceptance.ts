/**
 * The language-neutral acceptance cases (format: test/fixtures/acceptance/README.md).
 * The project keeps its own copy; when ../shared/acceptance exists beside the
 * checkout, its cases are run too, so a new case reaches the suite unchanged.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { expect } from "vitest";
import { NodeError } from "../../src/errors.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { loadTube } from "../../src/spec/load.ts";
import type { Tube } from "../../src/graph/tube.ts";

export interface AcceptanceCase {
  name: string;
  source: string;
  graph: Record<string, unknown>;
  files?: Record<string, unknown>;
  tube_input?: Record<string, unknown>;
  process_inputs?: Record<string, unknown>[];
  epochs: number;
  expect: unknown[];
  expect_error?: { epoch: number; node: string; contains: string };
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(here, "../..");

export function acceptanceCases(): AcceptanceCase[] {
  const dirs = [path.join(projectRoot, "test/fixtures/acceptance"), path.resolve(projectRoot, "../shared/acceptance")];
  const byName = new Map<string, AcceptanceCase>();
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
      const c = parse(readFileSync(path.join(dir, f), "utf8")) as AcceptanceCase;
      byName.set(c.name, { ...c, source: path.join(dir, f) });
    }
  }
  return [...byName.values()];
}

/** Writes the case's graph (and extra files) into a fresh folder; returns the graph path and a cleanup. */
export function writeCase(c: AcceptanceCase): { file: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tubular-case-${c.name}-`));
  for (const [name, content] of Object.entries(c.files ?? {})) writeFileSync(path.join(dir, name), JSON.stringify(content));
  const file = path.join(dir, "graph.json");
  writeFileSync(file, JSON.stringify(c.graph));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Numbers with relative tolerance 1e-9; object keys as sets. */
export function approxEqual(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") {
    if (a === b) return true;
    return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => approxEqual(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return approxEqual(ka, kb) && ka.every((k) => approxEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/**
 * Runs one case on a runner made by `make`: every epoch's value must match,
 * and a case that expects an error must fail at that epoch, naming the node.
 */
export async function checkCase(c: AcceptanceCase, make: (tube: Tube) => Runner, graph: Record<string, unknown> = c.graph): Promise<void> {
  const { file, cleanup } = writeCase({ ...c, graph });
  const runner = make(await loadTube(file, { input: c.tube_input ?? {} }));
  try {
    await runner.init();
    const values: unknown[] = [];
    let failure: unknown;
    for (let i = 0; i < c.epochs; i++) {
      try {
        values.push(await runner.process(c.process_inputs?.[i]));
      } catch (err) {
        failure = err;
        expect(c.expect_error, `unexpected error at epoch ${i}: ${String(err)}`).toBeDefined();
        expect(i).toBe(c.expect_error!.epoch);
        break;
      }
    }
    expect(approxEqual(values, c.expect), `got ${JSON.stringify(values)}, expected ${JSON.stringify(c.expect)}`).toBe(true);
    if (c.expect_error) {
      expect(failure).toBeInstanceOf(NodeError);
      const e = failure as NodeError;
      expect(e.nodeId).toBe(c.expect_error.node);
      expect(e.message).toContain(c.expect_error.node);
      expect(e.message).toContain(c.expect_error.contains);
      expect(e.remoteStack).toBeTruthy();
    }
  } finally {
    await runner.deinit();
    cleanup();
  }
}
