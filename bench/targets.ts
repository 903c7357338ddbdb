/**
 * The performance targets (issue 11 and the earlier ones in docs/performance.md),
 * judged next to the figures: `emit` adds a `targets` list to a bench's JSON
 * line and prints one readable verdict line per target on stderr; bench/run.ts
 * judges the ratios that need two benches of one run (to raw PUB->SUB, linear
 * cost) and prints every verdict at the end.
 */
import type { BenchResult } from "./lib.ts";

export interface Verdict {
  bench: string;
  figure: string;
  value: number;
  target: string;
  met: boolean;
}

type Rule = { figure: string; at: "<=" | ">="; limit: number; note?: string };

const AT_MOST = (figure: string, limit: number, note?: string): Rule => ({ figure, at: "<=", limit, ...(note ? { note } : {}) });
const AT_LEAST = (figure: string, limit: number, note?: string): Rule => ({ figure, at: ">=", limit, ...(note ? { note } : {}) });

/** Targets by bench name (as the bench emits it; per-node scaling runs have none of their own). */
const RULES: Record<string, Rule[]> = {
  "chain3-process-latency": [AT_MOST("p50_ms", 1, "one process per node; 0.70 ms before the regression")],
  "bytes-1mib": [AT_LEAST("value", 300)],
  "init-10": [AT_MOST("value", 2)],
  "freerun-memory": [AT_MOST("value", 50)],
  "cli-startup-version": [AT_MOST("value", 0.3)],
  "cli-startup-run-local": [AT_MOST("value", 0.6)],
  "scaling-chain3": [AT_LEAST("ratio_to_local", 0.5), AT_MOST("p50_ms", 0.5), AT_MOST("p99_ms", 2)],
  "scaling-chain10": [AT_LEAST("ratio_to_local", 0.5), AT_MOST("init_s", 0.6, "median of 5")],
  "scaling-chain30": [AT_LEAST("ratio_to_local", 0.5), AT_MOST("p50_ms", 3)],
  "scaling-chain100": [AT_LEAST("ratio_to_local", 0.5)],
  "scaling-fanout1": [AT_LEAST("ratio_to_local", 0.5)],
  "scaling-fanout8": [AT_LEAST("ratio_to_local", 0.5)],
  "scaling-fanout32": [AT_LEAST("ratio_to_local", 0.5), AT_MOST("init_s", 1.5, "median of 5")],
  // Issue 12's, set for SQLite (PostgreSQL runs have none).
  "registry-runs": [AT_LEAST("value", 200, "SQLite")],
  "registry-events": [AT_LEAST("value", 5000, "SQLite, 32 clients")],
};

function judge(bench: string, figure: string, value: number, rule: Rule): Verdict {
  const met = rule.at === "<=" ? value <= rule.limit : value >= rule.limit;
  return { bench, figure, value, target: `${rule.at} ${rule.limit}${rule.note ? ` (${rule.note})` : ""}`, met };
}

/** The verdicts on one bench's own figures (none when it has no target, or per-node scaling runs). */
export function verdictsOf(result: BenchResult): Verdict[] {
  if (typeof result.processes_option === "string" && result.processes_option !== "packed") return [];
  if (result.bench.startsWith("registry-") && result.store !== "sqlite") return [];
  const out: Verdict[] = [];
  for (const rule of RULES[result.bench] ?? []) {
    const value = rule.figure === "value" ? result.value : result[rule.figure];
    if (typeof value === "number") out.push(judge(result.bench, rule.figure, value, rule));
  }
  return out;
}

/** Targets across benches of one run: ratios to raw PUB->SUB and to the ipc free-run, linear cost. */
export function runVerdicts(results: BenchResult[]): Verdict[] {
  const value = (bench: string, field = "value") => results.find((r) => r.bench === bench)?.[field] as number | undefined;
  const out: Verdict[] = [];
  const raw = value("raw-pubsub");
  const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
  const freerun = value("chain3-freerun");
  if (raw && freerun) out.push(judge("chain3-freerun", "ratio to raw-pubsub", ratio(freerun, raw), AT_LEAST("", 0.15)));
  const packed = value("scaling-chain3");
  if (raw && packed) out.push(judge("scaling-chain3", "ratio to raw-pubsub", ratio(packed, raw), AT_LEAST("", 0.3)));
  const tcp = value("chain3-tcp-curve");
  if (tcp && freerun) out.push(judge("chain3-tcp-curve", "ratio to chain3-freerun", ratio(tcp, freerun), AT_LEAST("", 0.5)));
  const c3 = value("scaling-chain3", "epochs_x_nodes");
  const c100 = value("scaling-chain100", "epochs_x_nodes");
  if (c3 && c100) out.push(judge("scaling", "linear cost chain3 -> chain100 (factor)", Math.round((Math.max(c3, c100) / Math.min(c3, c100)) * 100) / 100, AT_MOST("", 2)));
  return out;
}

/** One readable line: `scaling-chain3 p99_ms 7.6 (target <= 2): NOT MET`. */
export function verdictLine(v: Verdict): string {
  return `${v.bench} ${v.figure} ${v.value} (target ${v.target}): ${v.met ? "met" : "NOT MET"}`;
}
