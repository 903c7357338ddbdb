/**
 * The host agents a command node knows: who joined, with which labels and
 * resources, whether they are still heard from, and which host a runner
 * placed with `host:` or `labels:` goes to.
 */
import type { Resources, RunnerReport } from "../../protocol/command-to-host.ts";
import type { RunnerPlan } from "./placement.ts";

export interface HostInfo {
  readonly name: string;
  /** Its routing id on the command inbox. */
  readonly identity: string;
  labels: string[];
  resources: Resources;
  pid: number;
  runners: RunnerReport[];
  lastSeen: number;
  /** Runners of this run placed on it. */
  assigned: number;
}

export class HostRegistry {
  readonly hosts = new Map<string, HostInfo>();

  hello(identity: string, v: { name: string; labels: string[]; resources: Resources; pid: number; runners: RunnerReport[] }, now: number): HostInfo {
    const prev = this.hosts.get(v.name);
    const info: HostInfo = { name: v.name, identity, labels: v.labels, resources: v.resources, pid: v.pid, runners: v.runners, lastSeen: now, assigned: prev?.assigned ?? 0 };
    this.hosts.set(v.name, info);
    return info;
  }

  byIdentity(identity: string): HostInfo | undefined {
    for (const h of this.hosts.values()) if (h.identity === identity) return h;
    return undefined;
  }

  /** Whether a runner plan needs a host agent (else it runs on the driver's machine). */
  static isRemote(plan: RunnerPlan): boolean {
    return plan.host !== undefined || (plan.labels !== undefined && plan.labels.length > 0);
  }

  /** The host for a plan: the named one, or the least busy host carrying all its labels. */
  choose(plan: RunnerPlan): HostInfo | undefined {
    if (plan.host !== undefined) return this.hosts.get(plan.host);
    const fits = [...this.hosts.values()].filter((h) => (plan.labels ?? []).every((l) => h.labels.includes(l)));
    fits.sort((a, b) => a.assigned - b.assigned || a.name.localeCompare(b.name));
    return fits[0];
  }

  /** "host h2", "a host with labels gpu, fast": what a plan waits for. */
  static describe(plan: RunnerPlan): string {
    return plan.host !== undefined ? `host "${plan.host}"` : `a host with labels ${(plan.labels ?? []).join(", ")}`;
  }
}
