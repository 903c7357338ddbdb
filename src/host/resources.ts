/**
 * What a host reports of itself: cpu cores, memory, load and GPUs. The GPU
 * list (systeminformation probes the system, which takes a while) is read
 * once; memory and load, cheap, at every report.
 */
import os from "node:os";
import si from "systeminformation";
import type { Resources } from "../protocol/command-to-host.ts";

export async function readGpus(): Promise<Resources["gpus"]> {
  try {
    const g = await si.graphics();
    return g.controllers.map((c) => ({ model: c.model || c.vendor || "unknown", vram_mb: c.vram ?? null }));
  } catch {
    return [];
  }
}

export function snapshot(gpus: Resources["gpus"]): Resources {
  return {
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    memory_total: os.totalmem(),
    memory_free: os.freemem(),
    load: os.loadavg(),
    gpus,
  };
}
