/**
 * Reading an event message: its events grouped by the completion they belong
 * to (a map's item events belong to the map's completion in the parent epoch).
 * Shared by the command node and the node runners.
 */
import { epochToKey, parentKey } from "../../graph/epoch.ts";
import type { Emitted } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import type { EventValue } from "../../protocol/runner-to-runner.ts";

export function completionKey(nodeId: string, key: string): string {
  return `${nodeId}\u0000${key}`;
}

/** Events by `completionKey(node, epoch key)`. */
export function groupEvents(tube: Tube, events: EventValue["events"]): Map<string, Emitted[]> {
  const groups = new Map<string, Emitted[]>();
  for (const ev of events) {
    const key = epochToKey(ev.epoch);
    const node = tube.nodes.get(ev.node_id);
    const g = completionKey(ev.node_id, node?.definition.special === "map" && ev.signal === "value" ? parentKey(key) : key);
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push({ signal: ev.signal, key, value: ev.value });
  }
  return groups;
}
