/**
 * Resident memory of a process on this machine, read from Linux's
 * /proc/PID/status (VmRSS, in kB: no page size to assume). The dashboard
 * reads it for processes on its own machine; a host agent reads it for the
 * runner processes it supervises and reports it with them, so runners on
 * other machines show theirs too. Null where it cannot be read (no such
 * process, not Linux).
 */
import { readFileSync } from "node:fs";

export function residentBytes(pid: number | null | undefined): number | null {
  if (pid === null || pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
