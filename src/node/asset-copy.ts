/**
 * The copy an asset's `depends` round-trip stores (noob deep-copies there, so
 * a node later in the epoch that mutates the signal's object does not change
 * the asset the next epoch gets). An object with a `clone()` method is copied
 * by it; anything else deeply, keeping prototypes (a class instance stays an
 * instance of its class), with shared and cyclic references kept as such.
 * Functions, and objects whose state lives outside their properties (a native
 * generator, a socket), are not copyable this way: give those a `clone()`.
 */
export function copyAsset(value: unknown): unknown {
  return copy(value, new Map());
}

function copy(v: unknown, seen: Map<object, unknown>): unknown {
  if (typeof v !== "object" || v === null) return v;
  const done = seen.get(v);
  if (done !== undefined) return done;
  if (typeof (v as { clone?: unknown }).clone === "function") {
    const c = (v as { clone: () => unknown }).clone();
    seen.set(v, c);
    return c;
  }
  if (v instanceof Date) return new Date(v.getTime());
  if (v instanceof RegExp) return new RegExp(v.source, v.flags);
  if (ArrayBuffer.isView(v)) return (v as unknown as { slice: () => unknown }).slice();
  if (v instanceof ArrayBuffer) return v.slice(0);
  if (v instanceof Map) {
    const m = new Map();
    seen.set(v, m);
    for (const [k, x] of v) m.set(copy(k, seen), copy(x, seen));
    return m;
  }
  if (v instanceof Set) {
    const s = new Set();
    seen.set(v, s);
    for (const x of v) s.add(copy(x, seen));
    return s;
  }
  const out: Record<PropertyKey, unknown> = Array.isArray(v) ? [] : Object.create(Object.getPrototypeOf(v));
  seen.set(v, out);
  for (const key of Reflect.ownKeys(v)) {
    const desc = Object.getOwnPropertyDescriptor(v, key)!;
    if ("value" in desc) desc.value = copy(desc.value, seen);
    Object.defineProperty(out, key, desc);
  }
  return out;
}
