/**
 * CurveZMQ keys: generation, key files (z85 text: `public.key`, and
 * `secret.key` with mode 0600), trust directories of public keys, and the
 * socket options of a CURVE server or client.
 */
import { chmod, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import * as zmq from "zeromq";
import { TubularError } from "../errors.ts";

/** A key pair in z85 text (40 characters each). */
export interface CurveKeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

/** The ZAP domain tubular's CURVE servers use (ZAP handlers may tell apart sockets by it). */
export const ZAP_DOMAIN = "tubular";

export const PUBLIC_KEY_FILE = "public.key";
export const SECRET_KEY_FILE = "secret.key";

const Z85_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const Z85_DECODE = new Map<string, number>([...Z85_CHARS].map((c, i) => [c, i]));
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/** Z85 (ZeroMQ RFC 32) of bytes whose length is a multiple of 4. */
export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new TubularError("TUBULAR_ERR_KEY", "z85 input length must be a multiple of 4");
  let out = "";
  for (let i = 0; i < data.length; i += 4) {
    let v = ((data[i]! << 24) >>> 0) + (data[i + 1]! << 16) + (data[i + 2]! << 8) + data[i + 3]!;
    const chunk = new Array<string>(5);
    for (let j = 4; j >= 0; j--) {
      chunk[j] = Z85_CHARS[v % 85]!;
      v = Math.floor(v / 85);
    }
    out += chunk.join("");
  }
  return out;
}

export function z85Decode(text: string): Buffer {
  if (text.length % 5 !== 0) throw new TubularError("TUBULAR_ERR_KEY", "z85 text length must be a multiple of 5");
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85_DECODE.get(text[i + j]!);
      if (d === undefined) throw new TubularError("TUBULAR_ERR_KEY", `invalid z85 character ${JSON.stringify(text[i + j])}`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new TubularError("TUBULAR_ERR_KEY", "invalid z85 group");
    out.writeUInt32BE(v, o);
  }
  return out;
}

/** True for a 40-character z85 key (a 32-byte CURVE key). */
export function isZ85Key(s: string): boolean {
  return Z85_KEY.test(s);
}

/** A new CURVE key pair. */
export function generateKeyPair(): CurveKeyPair {
  return zmq.curveKeyPair();
}

/** The first line of a key file that is neither empty nor a `#` comment. */
function parseKeyText(text: string, file: string): string {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== "" && !l.startsWith("#"));
  if (line === undefined || !isZ85Key(line)) {
    throw new TubularError("TUBULAR_ERR_KEY", `${file} does not hold a 40-character z85 CURVE key`, { file });
  }
  return line;
}

/** Reads one z85 key file (public or secret). */
export async function readKeyFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_KEY", `key file ${file} could not be read`, { file }, { cause: err });
  }
  return parseKeyText(text, file);
}

/** Writes `public.key` (0644) and `secret.key` (0600) into `dir`, creating it (0700) if needed. */
export async function writeKeyPair(dir: string, pair: CurveKeyPair): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = join(dir, SECRET_KEY_FILE);
  await writeFile(secret, `${pair.secretKey}\n`, { mode: 0o600 });
  await chmod(secret, 0o600); // the mode of writeFile applies only to new files
  await writeFile(join(dir, PUBLIC_KEY_FILE), `${pair.publicKey}\n`, { mode: 0o644 });
}

/** Reads `public.key` and `secret.key` from `dir`. */
export async function readKeyPair(dir: string): Promise<CurveKeyPair> {
  const [publicKey, secretKey] = await Promise.all([readKeyFile(join(dir, PUBLIC_KEY_FILE)), readKeyFile(join(dir, SECRET_KEY_FILE))]);
  return { publicKey, secretKey };
}

/**
 * The public keys of a trust directory: every regular file (any name) that
 * holds a z85 key. Hidden files and files named like secrets are ignored; other files that are not keys
 * are skipped with a warning, so a README does not break start-up.
 */
export async function loadTrustDir(dir: string, logger?: Logger): Promise<Set<string>> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_KEY", `trust directory ${dir} could not be read`, { file: dir }, { cause: err });
  }
  const keys = new Set<string>();
  for (const e of entries) {
    // A secret key is a z85 key too: never let one pass for a trusted public key.
    if (!e.isFile() || e.name.startsWith(".") || e.name.toLowerCase().includes("secret")) continue;
    const file = join(dir, e.name);
    try {
      keys.add(await readKeyFile(file));
    } catch (err) {
      logger?.warn({ file, err: (err as Error).message }, "skipped a file of the trust directory that is not a public key");
    }
  }
  return keys;
}

/**
 * Options of a socket that binds as a CURVE server (the ZAP handler decides
 * which clients get in). ZAP is enforced: with no ZAP handler running, every
 * client is refused, where libzmq's default would let every client in.
 */
export function curveServerOptions(pair: CurveKeyPair, zapDomain = ZAP_DOMAIN) {
  return { curveServer: true, curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey, zapDomain, zapEnforceDomain: true } as const;
}

/** Options of a socket that connects as a CURVE client to a server whose public key is `serverPublicKey`. */
export function curveClientOptions(pair: CurveKeyPair, serverPublicKey: string) {
  if (!isZ85Key(serverPublicKey)) throw new TubularError("TUBULAR_ERR_KEY", "the server public key is not a 40-character z85 key");
  return { curveServerKey: serverPublicKey, curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey } as const;
}

/** CURVE settings of a socket: as a server (binding side) or as a client of a given server. */
export type CurveConfig =
  | { readonly role: "server"; readonly keys: CurveKeyPair; readonly zapDomain?: string }
  | { readonly role: "client"; readonly keys: CurveKeyPair; readonly serverPublicKey: string };

export function curveOptions(config: CurveConfig) {
  return config.role === "server" ? curveServerOptions(config.keys, config.zapDomain) : curveClientOptions(config.keys, config.serverPublicKey);
}
