/**
 * Epochs. A root epoch is an integer; `map` nodes open sub-epochs, written
 * `[root, [mapNode, i], ...]`. Inside the scheduler an epoch is a string key
 * ("3", "3/b.0", "3/b.0/c.2"): cheap to hash, and ordered per level by index.
 */

export type SubEpochStep = [node: string, index: number];
export type Epoch = number | [number, ...SubEpochStep[]];
export type EpochKey = string;

const SEP = "/";

export function rootKey(root: number): EpochKey {
  return String(root);
}

export function subKey(parent: EpochKey, mapNode: string, index: number): EpochKey {
  return `${parent}${SEP}${mapNode}.${index}`;
}

export function parentKey(key: EpochKey): EpochKey {
  const i = key.lastIndexOf(SEP);
  return i < 0 ? key : key.slice(0, i);
}

export function keyToEpoch(key: EpochKey): Epoch {
  const parts = key.split(SEP);
  if (parts.length === 1) return Number(parts[0]);
  const steps = parts.slice(1).map((p): SubEpochStep => {
    const dot = p.lastIndexOf(".");
    return [p.slice(0, dot), Number(p.slice(dot + 1))];
  });
  return [Number(parts[0]), ...steps];
}

export function epochToKey(epoch: Epoch): EpochKey {
  if (typeof epoch === "number") return rootKey(epoch);
  const [root, ...steps] = epoch;
  let key = rootKey(root);
  for (const [node, i] of steps) key = subKey(key, node, i);
  return key;
}

