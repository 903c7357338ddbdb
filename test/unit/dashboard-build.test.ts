import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUILD_INFO, sourceDigest } from "../../web/source-digest.ts";
import { WEB_DIST } from "../../src/bridge/dashboard/static-files.ts";

describe("dashboard - built files", () => {
  it("are committed and were built from the sources as they are now (npm run build:web)", () => {
    expect(existsSync(path.join(WEB_DIST, "index.html"))).toBe(true);
    const info = JSON.parse(readFileSync(BUILD_INFO, "utf8")) as { sources: string };
    expect(info.sources, "web/ changed since the last build: run npm run build:web and commit web/dist").toBe(sourceDigest());
    const html = readFileSync(path.join(WEB_DIST, "index.html"), "utf8");
    for (const [, ref] of html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)) expect(existsSync(path.join(WEB_DIST, ref!))).toBe(true);
  });
});
