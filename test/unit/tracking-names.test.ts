import { describe, expect, it } from "vitest";
import { randomRunName, slugify, uniqueRunName } from "../../src/bridge/tracking/names.ts";

describe("tracking - run names", () => {
  it("generates adjective_noun_number names like brave_pasta_123", () => {
    for (let i = 0; i < 200; i++) expect(randomRunName()).toMatch(/^[a-z]+_[a-z]+_\d{1,3}$/);
  });

  it("draws from the random source it is given", () => {
    const seq = [0, 0, 0.123];
    expect(randomRunName(() => seq.shift()!)).toBe("brave_pasta_123");
  });

  it("keeps a free name and de-duplicates a taken one with _1, _2, ...", () => {
    expect(uniqueRunName("exp", new Set())).toBe("exp");
    expect(uniqueRunName("exp", new Set(["exp"]))).toBe("exp_1");
    expect(uniqueRunName("exp", new Set(["exp", "exp_1"]))).toBe("exp_2");
    expect(uniqueRunName("exp", new Set(["exp", "exp_2"]))).toBe("exp_1");
  });

  it("slugifies project display names as the reference client does", () => {
    expect(slugify("My Project")).toBe("my-project");
    expect(slugify("  Café -- Test_2!! ")).toBe("cafe-test-2");
    expect(slugify("graph runs")).toBe("graph-runs");
  });
});
