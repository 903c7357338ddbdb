/**
 * One digest over everything the built dashboard is made from, written to
 * web/dist/build-info.json by `npm run build:web`; a test compares it with
 * the sources, so committed built files never lag behind their sources.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WEB = fileURLToPath(new URL(".", import.meta.url));
const ROOT = path.dirname(WEB);

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = path.join(dir, name);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .sort();
}

export function sourceDigest(): string {
  const inputs = [...files(path.join(WEB, "src")), path.join(WEB, "index.html"), path.join(WEB, "vite.config.ts"), path.join(ROOT, "src/bridge/dashboard/messages.ts")];
  const h = createHash("sha256");
  for (const f of inputs) h.update(path.relative(ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
  return h.digest("hex");
}

export const BUILD_INFO = path.join(WEB, "dist", "build-info.json");
