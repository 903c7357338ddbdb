import { describe, it } from "vitest";
import { LocalRunner } from "../../src/runner/local.ts";
import { acceptanceCases, checkCase } from "../helpers/acceptance.ts";

describe("acceptance - local runner", () => {
  for (const c of acceptanceCases()) {
    it(`${c.name} gives the expected value of every epoch`, () => checkCase(c, (tube) => new LocalRunner(tube)));
  }
});
