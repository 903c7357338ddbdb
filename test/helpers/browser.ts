/**
 * Real Chromium for the dashboard's tests: Debian's `chromium` (or
 * TUBULAR_CHROMIUM), driven by playwright-core, never a downloaded browser.
 * A missing browser fails the test with how to install it (.ci/chromium.sh
 * installs it in CI); it is never skipped.
 */
import { existsSync, mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { projectRoot } from "./acceptance.ts";

export const CHROMIUM = process.env.TUBULAR_CHROMIUM ?? "/usr/bin/chromium";

/** Screenshots the tests take, kept as artifacts (git ignores the folder). */
export const ARTIFACTS = path.join(projectRoot, "test-artifacts", "dashboard");

export interface OpenBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<OpenBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install chromium, as .ci/chromium.sh does) or set TUBULAR_CHROMIUM`);
  }
  const profile = await mkdtemp(path.join(os.tmpdir(), "tubular-chromium-"));
  // A fresh profile per browser (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 760 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
