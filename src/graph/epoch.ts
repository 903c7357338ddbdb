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

/** How many map levels deep an epoch is (0 for a root epoch). */
export function epochDepth(key: EpochKey): number {
  let depth = 0;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 47 /* "/" */) depth++;
  return depth;
}

/** The ancestor of `key` at `depth` levels (itself when already that shallow). */
export function ancestorKey(key: EpochKey, depth: number): EpochKey {
  let seen = 0;
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) === 47) {
      if (seen === depth) return key.slice(0, i);
      seen++;
    }
  }
  return key;
}

export function parentKey(key: EpochKey): EpochKey {
  const i = key.lastIndexOf(SEP);
  return i < 0 ? key : key.slice(0, i);
}

export function rootOf(key: EpochKey): number {
  const i = key.indexOf(SEP);
  return Number(i < 0 ? key : key.slice(0, i));
}

/** The index of the last step of a sub-epoch key. */
export function lastIndex(key: EpochKey): number {
  const dot = key.lastIndexOf(".");
  return Number(key.slice(dot + 1));
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

/** Total order of epochs: by root, then by each level's index. */
export function compareKeys(a: EpochKey, b: EpochKey): number {
  const ea = keyToEpoch(a);
  const eb = keyToEpoch(b);
  const ra = typeof ea === "number" ? [ea] : [ea[0], ...ea.slice(1).map((s) => (s as SubEpochStep)[1])];
  const rb = typeof eb === "number" ? [eb] : [eb[0], ...eb.slice(1).map((s) => (s as SubEpochStep)[1])];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const d = (ra[i] as number) - (rb[i] as number);
    if (d !== 0) return d;
  }
  return ra.length - rb.length;
}
