// Builds the dashboard into web/dist (committed: the package ships it; see docs/architecture.md "Dashboard").
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // One chunk for the app and one for the layout library, no source maps: small files to ship.
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
});
