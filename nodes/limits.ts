/**
 * Bounds on what built-in nodes make. A graph may come from an untrusted
 * client (the bridge's inline graphs), and a few bytes of params must not make
 * a node build hundreds of megabytes: every built-in node that can make a
 * value larger than its inputs checks the size first and fails with a
 * RangeError naming the bound.
 */

/** Longest string a built-in node produces, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 1_000_000;

/** Largest `hype` of `exclaim`. */
export const MAX_HYPE = 1_000;

/** Longest separator of `concat`. */
export const MAX_SEPARATOR_LENGTH = 1_000;

/** Longest `ms` of `sleep`: one hour. */
export const MAX_SLEEP_MS = 3_600_000;

/** Throws when a string of `length` would exceed MAX_TEXT_LENGTH. */
export function checkTextLength(node: string, length: number): void {
  if (length > MAX_TEXT_LENGTH) throw new RangeError(`${node}: the result would be ${length} characters long, at most ${MAX_TEXT_LENGTH}`);
}
