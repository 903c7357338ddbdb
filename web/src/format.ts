/** How figures read on the page. */
export function rate(perSec: number | null | undefined): string {
  if (perSec === null || perSec === undefined) return "–";
  if (perSec >= 10_000) return `${(perSec / 1000).toFixed(1)}k`;
  if (perSec >= 100) return perSec.toFixed(0);
  return perSec.toFixed(1);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function epoch(e: unknown): string {
  return e === null || e === undefined ? "–" : JSON.stringify(e);
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

/** A duration in milliseconds, with the precision it needs. */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 10) return `${v.toFixed(0)} ms`;
  if (v >= 0.1) return `${v.toFixed(2)} ms`;
  return `${(v * 1000).toFixed(0)} µs`;
}
