/**
 * Fuzz run sizes: a short form in `npm test`, a long one under
 * `npm run fuzz` (TUBULAR_FUZZ_LONG=1). Seeds are fixed so a failure
 * reproduces; fast-check prints the seed and path of a counterexample.
 */
export const LONG = process.env.TUBULAR_FUZZ_LONG === "1";
export const SEED = 20261130;
/** Runs of a property over the codec. */
export const CODEC_RUNS = LONG ? 100_000 : 500;
/** Hostile messages sent to the sockets of a live run. */
export const SOCKET_MESSAGES = LONG ? 22_000 : 600;
/** Every process of a fuzzed run stays under this resident size (MiB). */
export const RSS_BOUND_MIB = 512;
