/**
 * noob's test nodes and assets (its `noob.testing` module), written anew as
 * tubular node and asset types, so noob's own test graphs run unchanged with
 * the type map `noob.testing.*: ./noob_testing.ts#*` (test/noob/type-map.yaml).
 * Each keeps the Python original's slots in parameter order (bare references
 * bind by position), its signal names, and its Python semantics where a graph
 * relies on them (`"ab" * 2` repeats a string). Random words stand in for faker's.
 */
import { z } from "zod";
import { defineNode } from "../../src/node/define.ts";
import { NoEvent } from "../../src/node/definition.ts";

/** A required slot of any type (zod's any() also accepts "no value", which would make the slot optional). */
const any = z.custom<any>((v) => v !== undefined, "required");
const opt = z.any().optional();

/** An error named like Python's, so a check on the error's type reads the same. */
export class ValueError extends Error {
  override name = "ValueError";
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
const WORDS = ["apple", "river", "stone", "cloud", "ember", "maple", "orbit", "quartz", "sable", "tundra", "violet", "willow", "zephyr", "harbor", "lantern", "meadow", "nectar", "pebble", "saddle", "timber", "anchor", "bramble", "canyon", "dune", "fjord", "glacier", "heron", "island", "jungle", "kettle"];
let uniqueWord = 0;
const word = (): string => WORDS[Math.floor(Math.random() * WORDS.length)]!;
/** faker's `unique.word()`: never the same twice in a process. */
const unique = (): string => `${WORDS[uniqueWord % WORDS.length]}${uniqueWord++ >= WORDS.length ? Math.floor((uniqueWord - 1) / WORDS.length) : ""}`;

/** Python's `a * b`: a string or list times an integer repeats it. */
function pyMul(a: unknown, b: unknown): unknown {
  if (typeof a === "string" && typeof b === "number") return a.repeat(b);
  if (typeof b === "string" && typeof a === "number") return b.repeat(a);
  if (Array.isArray(a) && typeof b === "number") return Array.from({ length: b }, () => a).flat();
  return (a as number) * (b as number);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- sources ----

export function* count_source({ limit = 10000, start = 0 }: { limit?: number; start?: number } = {}) {
  for (let v = start; limit === 0 || v < limit; v++) yield v;
}
count_source.signals = ["index"];

export function* letter_source() {
  for (let i = 0; ; i++) yield LETTERS[i % LETTERS.length];
}
letter_source.signals = ["letter"];

export function* word_source() {
  for (;;) yield word();
}
word_source.signals = ["word"];

export function* multi_words_source({ n }: { n: number }) {
  for (;;) yield Array.from({ length: n }, unique);
}
multi_words_source.signals = ["multi_words"];

export function* sporadic_word({ every = 3 }: { every?: number } = {}) {
  for (let i = 1; ; i++) yield i % every === 0 ? word() : undefined;
}
sporadic_word.signals = ["word"];

export function* sporadic_word_noevent({ every = 3 }: { every?: number } = {}) {
  for (let i = 1; ; i++) yield i % every === 0 ? word() : NoEvent;
}
sporadic_word_noevent.signals = ["word"];

export function* word_counts() {
  for (;;) {
    const n = 2 + Math.floor(Math.random() * 4);
    yield { word: unique(), counts: Array.from({ length: n }, () => 1 + Math.floor(Math.random() * 100)) };
  }
}
word_counts.signals = ["word", "counts"];

export function* switch_() {
  const fruits = ["apple", "banana", "cherry"];
  const vegetables = ["daikon", "eggplant", "fiddlehead"];
  const minerals = ["galaxite", "halite", "iolite"];
  for (let i = 0; ; i++) {
    yield { fruits: fruits[i % 3] };
    yield { vegetables: vegetables[i % 3] };
    yield { minerals: minerals[i % 3] };
  }
}
switch_.signals = ["fruits", "vegetables", "minerals"];
export { switch_ as switch };

export function* cycle({ start = 0, stop = 100, step = 1 }: { start?: number; stop?: number; step?: number } = {}) {
  for (;;) for (let v = start; step > 0 ? v < stop : v > stop; v += step) yield v;
}

// ---- functions ----

export const multiply = defineNode({ slots: { left: any, right: z.any().default(2) }, stateful: false, process: ({ left, right }) => pyMul(left, right) });

export const divide = defineNode({ slots: { numerator: any, denominator: z.any().default(5) }, signals: ["ratio"], stateful: false, process: ({ numerator, denominator }) => numerator / denominator });

export const concat = defineNode({ slots: { strings: any }, stateful: false, process: ({ strings }) => (strings as string[]).join("") });

/** `**kwargs`: takes whatever its depends name. */
export function multi_concat(kwargs: Record<string, unknown>): string {
  return Object.values(kwargs).map((w) => (Array.isArray(w) ? w.join("") : String(w))).join("");
}

export const exclaim = defineNode({ slots: { string: any, hype: z.any().default(1) }, stateful: false, process: ({ string, hype }) => string + "!".repeat(hype) });

export const repeat = defineNode({ slots: { string: any, times: any }, stateful: false, process: ({ string, times }) => (string as string).repeat(times) });

export const dictify = defineNode({ slots: { key: any, items: any }, stateful: false, process: ({ key, items }) => ({ [String(key)]: items }) });

export const error = defineNode({
  slots: { value: any },
  stateful: false,
  process: () => {
    throw new ValueError("This node just emits errors");
  },
});

export const input_party = defineNode({
  slots: { one: any, two: any, three: any, four: any, five: any, six: any, seven: any },
  signals: ["works"],
  stateful: false,
  process: () => true,
});

export const long_add = defineNode({
  slots: { value: any, sleep_for: z.any().default(0.25) },
  stateful: false,
  process: async ({ value, sleep_for }) => {
    await sleep(sleep_for * 1000);
    return value + 1;
  },
});

export const number_to_letter = defineNode({
  slots: { number: any, offset: z.any().default(0) },
  stateful: false,
  process: async ({ number, offset }) => {
    await sleep(Math.random() * 100);
    return LETTERS[(number + offset) % LETTERS.length];
  },
});

export class NumberToLetterCls {
  static slots = { number: { required: true } };
  static stateful = false;
  offset: number;
  constructor({ offset = 0 }: { offset?: number } = {}) {
    this.offset = offset;
  }
  async process({ number }: { number: number }) {
    await sleep(Math.random() * 100);
    return LETTERS[(number + this.offset) % LETTERS.length];
  }
}

export const async_error = defineNode({
  slots: { value: any },
  stateful: false,
  process: async () => {
    throw new ValueError("This is the error that should be raised");
  },
});

export class StatefulMultiply {
  static slots = { left: { required: true }, right: { required: false, default: 1 } };
  current: number;
  constructor({ start = 0 }: { start?: number } = {}) {
    this.current = start;
  }
  process({ left, right = 1 }: { left: number; right?: number }) {
    const value = left * right * this.current;
    this.current += 1;
    return value;
  }
}

/** Pulls `n` values from an iterator-like asset; emits the last. */
export const fast_forward = defineNode({
  slots: { generator: any, n: z.any().default(1) },
  signals: ["next"],
  stateful: false,
  process: ({ generator, n }) => {
    let val: unknown;
    for (let i = 0; i < n; i++) val = generator.next();
    return val;
  },
});

export const jump = defineNode({
  slots: { generator: any, n: z.any().default(1) },
  signals: ["skirttt", "next"],
  stateful: false,
  process: ({ generator, n }) => {
    let value = 0;
    for (let i = 0; i < n; i++) value = generator.next();
    return { skirttt: generator, next: value };
  },
});

export const increment = defineNode({
  slots: { iterator: any, increment: z.any().default(1) },
  signals: ["iterator", "value"],
  stateful: false,
  process: ({ iterator, increment }) => {
    let value: unknown;
    for (let i = 0; i < increment; i++) value = iterator.next();
    return { iterator, value };
  },
});

/** `*args`: the values of whatever its depends name, each pulled once. */
export function zip_iter(args: Record<string, { next: () => unknown }>): unknown[] {
  return Object.values(args).map((a) => a.next());
}

/** `(value, *args, **kwargs)`: returns what it got. */
export function passthrough({ value, ...kwargs }: Record<string, unknown>): unknown {
  return [value, [], kwargs];
}

export class InitCounter {
  static signals = ["inits", "deinits"];
  inits = 0;
  deinits = 0;
  init() {
    this.inits += 1;
  }
  async process() {
    await sleep(10);
    return { inits: this.inits, deinits: this.deinits };
  }
  deinit() {
    this.deinits += 1;
  }
}

export const just_wait = defineNode({
  slots: { value: any, wait_for: z.any().default(0.5) },
  stateful: false,
  process: async ({ value, wait_for }) => {
    await sleep(wait_for * 1000);
    return value;
  },
});

export const this_or_that = defineNode({
  slots: { this: opt, that: opt, the_other: opt },
  stateful: false,
  process: (inputs) => {
    const ret: Record<string, unknown> = {};
    for (const k of ["this", "that", "the_other"]) if (inputs[k] !== undefined && inputs[k] !== null) ret[k] = inputs[k];
    return ret;
  },
});

// ---- assets ----

/** noob's `counter`: `next()` gives the current value and advances. */
export class counter {
  protected _current: number;
  constructor({ start = 0 }: { start?: number } = {}) {
    this._current = start;
  }
  next(): number {
    return this._current++;
  }
  get current(): number {
    return this._current;
  }
}

export class LifecycleCounter extends counter {
  entered = 0;
  exited = 0;
}

/** A context-manager asset: entered (advancing once) when made, exited (advancing once) when released. */
export function* counter_cm({ start = 0 }: { start?: number } = {}) {
  const c = new LifecycleCounter({ start });
  c.entered += 1;
  c.next();
  try {
    yield c;
  } finally {
    c.next();
    c.exited += 1;
  }
}

/** True while made; counts how often it was made and released, for checks of which nodes make it. */
export const initializerLog = { inits: 0, deinits: 0 };
export function* Initializer() {
  initializerLog.inits += 1;
  try {
    yield true;
  } finally {
    initializerLog.deinits += 1;
  }
}

