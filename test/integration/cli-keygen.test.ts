/**
 * `tubular keygen` through the real command line.
 */
import { execFile } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isZ85Key, readKeyPair, z85Decode } from "../../src/transport/curve.ts";

const BIN = fileURLToPath(new URL("../../bin/tubular.js", import.meta.url));

function tubular(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The X25519 (CURVE) public key of a raw 32-byte secret key. */
function x25519PublicOf(secret: Buffer): Buffer {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), secret]);
  const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url");
}

describe("tubular keygen", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "tubular-keygen-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes public.key and secret.key (0600) as z85 and prints the public key", async () => {
    const dir = join(tmp, "new", "keys");
    const r = await tubular(["keygen", "--out", dir]);
    expect(r.stderr).toContain("secret.key");
    expect(r.code).toBe(0);

    const pub = (await readFile(join(dir, "public.key"), "utf8")).trim();
    const sec = (await readFile(join(dir, "secret.key"), "utf8")).trim();
    for (const key of [pub, sec]) {
      expect(key).toHaveLength(40);
      expect(isZ85Key(key)).toBe(true);
      expect(z85Decode(key)).toHaveLength(32);
    }
    expect(pub).not.toBe(sec);
    // stdout is the public key alone, so KEY=$(tubular keygen ...) works
    expect(r.stdout).toBe(`${pub}\n`);

    expect((await stat(join(dir, "secret.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "public.key"))).mode & 0o022).toBe(0); // writable by its owner only
    expect((await stat(dir)).mode & 0o777).toBe(0o700);

    // the files read back as a key pair, and the public key is the one of the secret
    const pair = await readKeyPair(dir);
    expect(pair).toEqual({ publicKey: pub, secretKey: sec });
    expect(x25519PublicOf(z85Decode(sec)).equals(z85Decode(pub))).toBe(true);
  });

  it("refuses to overwrite an existing key pair without --force, and replaces it with --force", async () => {
    const dir = join(tmp, "twice");
    const first = await tubular(["keygen", "--out", dir]);
    expect(first.code).toBe(0);
    const sec1 = await readFile(join(dir, "secret.key"), "utf8");

    const again = await tubular(["keygen", "--out", dir]);
    expect(again.code).toBe(2);
    expect(again.stdout).toBe("");
    expect(again.stderr).toMatch(/secret\.key.*already exist.*--force/);
    expect(await readFile(join(dir, "secret.key"), "utf8")).toBe(sec1);

    const forced = await tubular(["keygen", "--out", dir, "--force"]);
    expect(forced.code).toBe(0);
    const sec2 = await readFile(join(dir, "secret.key"), "utf8");
    expect(sec2).not.toBe(sec1);
    expect(forced.stdout.trim()).toBe((await readFile(join(dir, "public.key"), "utf8")).trim());
    expect((await stat(join(dir, "secret.key"))).mode & 0o777).toBe(0o600);
  });

  it("refuses when only a secret.key is there, and keeps a loose one tight when forced", async () => {
    const dir = join(tmp, "loose");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "secret.key"), "not a key\n", { mode: 0o644 });
    const r = await tubular(["keygen", "--out", dir]);
    expect(r.code).toBe(2);
    expect(await readFile(join(dir, "secret.key"), "utf8")).toBe("not a key\n");
    const forced = await tubular(["keygen", "--out", dir, "-f"]);
    expect(forced.code).toBe(0);
    expect((await stat(join(dir, "secret.key"))).mode & 0o777).toBe(0o600);
  });

  it("needs --out", async () => {
    const r = await tubular(["keygen"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out/);
  });
});
