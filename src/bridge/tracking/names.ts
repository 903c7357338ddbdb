/**
 * Run names, as the reference tracker makes them: `adjective_noun_123` when
 * none is given; a name already taken in the project gets `_1`, `_2`, ...
 * Pure: the random source and the taken names are passed in.
 */

const ADJECTIVES = [
  "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively",
  "lucky", "merry", "nimble", "proud", "quick", "quiet", "shiny", "silly", "swift", "witty",
  "bold", "bright", "cosmic", "daring", "fuzzy", "golden", "humble", "mellow", "rapid", "sunny",
] as const;

const NOUNS = [
  "pasta", "otter", "falcon", "maple", "comet", "pebble", "river", "tiger", "lemon", "rocket",
  "panda", "cactus", "harbor", "meadow", "walrus", "violet", "cookie", "badger", "canyon", "nebula",
  "pickle", "quartz", "sparrow", "tulip", "waffle", "yak", "zephyr", "bison", "coral", "dune",
] as const;

/** `adjective_noun_NNN` from `random` (values in [0, 1)). */
export function randomRunName(random: () => number = Math.random): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length) % xs.length]!;
  return `${pick(ADJECTIVES)}_${pick(NOUNS)}_${Math.floor(random() * 1000)}`;
}

/** `name` if free, else the first of `name_1`, `name_2`, ... that is. */
export function uniqueRunName(name: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  for (let i = 1; ; i++) {
    const candidate = `${name}_${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/**
 * A project's slug from its display name, as the reference client computes it
 * (python-slugify's defaults for ASCII text): lower case, runs of anything but
 * letters and digits become one `-`, no `-` at either end.
 */
export function slugify(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/['"]+/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}
