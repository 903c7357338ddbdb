/**
 * Placement, pure: which pending runs a worker gets when it claims. Pending
 * runs come in priority order (higher first, then oldest); a run goes to the
 * worker only when the worker's reported resources, minus what the runs it
 * already holds (and the ones given in this claim) reserve, cover the run's
 * constraints, and the worker's tags (its own and its GPUs') include the
 * run's tags. A run that does not fit is skipped, not waited for, so one
 * large run does not hold back the small ones behind it.
 */
import type { Constraints, RunChange, RunRecord, WorkerRecord } from "../../store/records.ts";
import { assigned } from "./state-machine.ts";

function reserved(runs: readonly RunRecord[]): { cpu: number; ram_mb: number; vram_mb: number } {
  const sum = { cpu: 0, ram_mb: 0, vram_mb: 0 };
  for (const r of runs) {
    sum.cpu += r.constraints.cpu;
    sum.ram_mb += r.constraints.ram_mb;
    sum.vram_mb += r.constraints.vram_mb;
  }
  return sum;
}

/** Whether a run with constraints `c` fits on the worker beside the runs it holds. */
export function fits(worker: WorkerRecord, held: readonly RunRecord[], c: Constraints): boolean {
  const used = reserved(held);
  const res = worker.resources;
  if (c.cpu > 0 && used.cpu + c.cpu > res.cpu_cores) return false;
  if (c.ram_mb > 0 && used.ram_mb + c.ram_mb > res.ram_mb) return false;
  if (c.vram_mb > 0) {
    // GPU memory is not split across cards: one card must be large enough, and the total must have room.
    const total = res.gpus.reduce((s, g) => s + g.vram_mb, 0);
    if (!res.gpus.some((g) => g.vram_mb >= c.vram_mb) || used.vram_mb + c.vram_mb > total) return false;
  }
  if (c.tags.length > 0) {
    const tags = new Set([...worker.tags, ...res.gpus.flatMap((g) => g.tags)]);
    if (!c.tags.every((t) => tags.has(t))) return false;
  }
  return true;
}

/** The assignments of one claim: up to `limit` pending runs that fit, in queue order. */
export function planClaim(worker: WorkerRecord, held: readonly RunRecord[], pending: Iterable<RunRecord>, limit: number, now: number): RunChange[] {
  const holding = [...held];
  const out: RunChange[] = [];
  if (limit <= 0) return out;
  for (const run of pending) {
    if (!fits(worker, holding, run.constraints)) continue;
    const change = assigned(run, worker.worker_id, now);
    holding.push(change.run);
    out.push(change);
    // Stop here, not at the next run: the store reads the queue only as far as this loop walks it.
    if (out.length >= limit) break;
  }
  return out;
}
