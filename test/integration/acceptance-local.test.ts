import { describe, expect, it } from "vitest";
import { loadTube } from "../../src/spec/load.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { NodeError } from "../../src/errors.ts";
import { acceptanceCases, approxEqual, writeCase } from "../helpers/acceptance.ts";

describe("acceptance - local runner", () => {
  for (const c of acceptanceCases()) {
    it(`${c.name} gives the expected value of every epoch`, async () => {
      const { file, cleanup } = writeCase(c);
      const runner = new LocalRunner(await loadTube(file, { input: c.tube_input ?? {} }));
      try {
        await runner.init();
        const values: unknown[] = [];
        let failure: unknown;
        for (let i = 0; i < c.epochs; i++) {
          try {
            values.push(await runner.process(c.process_inputs?.[i]));
          } catch (err) {
            failure = err;
            expect(c.expect_error, `unexpected error at epoch ${i}: ${String(err)}`).toBeDefined();
            expect(i).toBe(c.expect_error!.epoch);
            break;
          }
        }
        expect(approxEqual(values, c.expect), `got ${JSON.stringify(values)}, expected ${JSON.stringify(c.expect)}`).toBe(true);
        if (c.expect_error) {
          expect(failure).toBeInstanceOf(NodeError);
          const e = failure as NodeError;
          expect(e.message).toContain(c.expect_error.node);
          expect(e.nodeId).toBe(c.expect_error.node);
          expect(e.message).toContain(c.expect_error.contains);
        }
      } finally {
        await runner.deinit();
        cleanup();
      }
    });
  }
});
