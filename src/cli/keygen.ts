/**
 * `tubular keygen --out DIR`: writes a new CurveZMQ key pair, DIR/public.key
 * and DIR/secret.key (z85 text, the secret with mode 0600), and prints the
 * public key on stdout, alone, so `KEY=$(tubular keygen --out DIR)` works.
 * An existing key pair is never replaced without --force: a secret key that
 * is overwritten is lost, and every peer that trusted its public key with it.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { PUBLIC_KEY_FILE, SECRET_KEY_FILE, generateKeyPair, writeKeyPair } from "../transport/curve.ts";
import { CliError, ExitCode, defaultContext, reportError, type CliContext } from "./common.ts";

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Writes a new key pair into `dir`; refuses when a key file is there already, unless `force`. Returns the public key. */
export async function keygen(dir: string, force = false): Promise<{ publicKey: string; publicFile: string; secretFile: string }> {
  const publicFile = join(dir, PUBLIC_KEY_FILE);
  const secretFile = join(dir, SECRET_KEY_FILE);
  if (!force) {
    const present = [];
    for (const f of [secretFile, publicFile]) if (await exists(f)) present.push(f);
    if (present.length > 0) {
      throw new CliError(`${present.join(" and ")} already ${present.length > 1 ? "exist" : "exists"}: not overwriting a key pair (use --force to replace it)`, ExitCode.CONFIG);
    }
  }
  const pair = generateKeyPair();
  await writeKeyPair(dir, pair);
  return { publicKey: pair.publicKey, publicFile, secretFile };
}

export function keygenCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("keygen")
    .description("write a new CurveZMQ key pair (public.key, and secret.key with mode 0600) and print the public key")
    .requiredOption("-o, --out <dir>", "directory to write the key pair into (created, mode 0700, if missing)")
    .option("-f, --force", "replace a key pair that is already there")
    .addHelpText(
      "after",
      `
The command node and every host agent each have their own key pair. Give the
command node's public key to the hosts (--command-key), and put the hosts'
public keys in the command node's trust directory (--trust). A secret key
never leaves the machine it was made on.

Examples:
  $ tubular keygen --out ~/.tubular/keys
  $ tubular keygen --out keys/host1 > trusted/host1.key`,
    )
    .action(async (options: { out: string; force?: boolean }) => {
      try {
        const { publicKey, publicFile, secretFile } = await keygen(options.out, options.force ?? false);
        ctx.stdout.write(`${publicKey}\n`);
        ctx.stderr.write(`wrote ${publicFile} and ${secretFile} (mode 0600)\n`);
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        ctx.exitCode = reportError(err, ctx.stderr);
      }
    });
}
