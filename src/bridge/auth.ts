/**
 * API keys. A key arrives in the upgrade request's `Authorization` header,
 * `Api-Key <key>` as the reference client sends it, or `Bearer <key>`. Keys
 * are kept only as SHA-256 digests, so a key never sits in memory longer
 * than the check, never reaches a log, and comparing digests leaks nothing
 * useful through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { TubularError } from "../errors.ts";

export function digestKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The key in an `Authorization` header value, or undefined when the header is missing or another scheme. */
export function keyFromHeader(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const m = /^\s*(Api-Key|Bearer)\s+(\S+)\s*$/i.exec(value);
  return m ? m[2] : undefined;
}

/** Keys from a file (one a line; blank lines and `#` comments ignored) and a comma-separated list. */
export async function loadApiKeys(opts: { file?: string; env?: string }): Promise<string[]> {
  const keys: string[] = [];
  if (opts.file) {
    let text: string;
    try {
      text = await readFile(opts.file, "utf8");
    } catch (err) {
      throw new TubularError("TUBULAR_ERR_AUTH", `API key file ${opts.file} could not be read`, { file: opts.file }, { cause: err });
    }
    for (const line of text.split(/\r?\n/)) {
      const key = line.replace(/#.*/, "").trim();
      if (key) keys.push(key);
    }
  }
  if (opts.env) keys.push(...opts.env.split(",").map((k) => k.trim()).filter(Boolean));
  return keys;
}

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: Iterable<string>) {
    this.digests = [...new Set(keys)].map((k) => Buffer.from(digestKey(k), "hex"));
  }

  get size(): number {
    return this.digests.length;
  }

  /** The digest that identifies the key's holder when the key is known; undefined otherwise. */
  check(key: string | undefined): string | undefined {
    if (!key) return undefined;
    const d = Buffer.from(digestKey(key), "hex");
    let found = false;
    for (const known of this.digests) found = timingSafeEqual(known, d) || found;
    return found ? d.toString("hex") : undefined;
  }
}

/** A random token (256 bits, URL-safe). */
export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}
