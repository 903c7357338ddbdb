/**
 * How much the fuzz suite runs. `npm test` runs the short form (FUZZ_SCALE=1);
 * `npm run fuzz` the long one (FUZZ_SCALE=40 unless set). The seed is fixed
 * (FUZZ_SEED to try another), so a failure reproduces with the seed and path
 * fast-check prints.
 */
import type { Parameters } from "fast-check";

export const FUZZ_SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1) || 1);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261130);
/** The long form: `npm run fuzz`. */
export const LONG = FUZZ_SCALE > 1;
export const SEED = FUZZ_SEED;

/** The RSS every server process must stay under, during and after a fuzz run. */
export const RSS_BOUND_BYTES = 512 * 1024 * 1024;
export const RSS_BOUND_MIB = RSS_BOUND_BYTES / (1024 * 1024);

/** Runs of a property over the codec. */
export const CODEC_RUNS = LONG ? 20_000 : 500;
/** Hostile messages sent to the sockets of a live run. */
export const SOCKET_MESSAGES = LONG ? 22_000 : 600;

/** fast-check parameters: `runs` in the short form, scaled for the long one. */
export function fuzzParams<T>(runs: number, extra: Parameters<T> = {}): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: runs * FUZZ_SCALE, endOnFailure: true, ...extra };
}

/** A test timeout that grows with the scale. */
export function fuzzTimeout(shortMs: number): number {
  return shortMs * FUZZ_SCALE + 30_000;
}
