/**
 * The one way tests wait: until a condition holds, polled, bounded. A
 * timeout fails with what was awaited, never passes silently.
 */
export async function until<T>(condition: () => T | Promise<T>, timeoutMs: number, what = "the condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await condition();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
