/** Reading the keys a command line names: a key pair directory, a public key as a file or as z85 text, a trust directory. */
import { isZ85Key, loadTrustDir, readKeyFile, readKeyPair, type CurveKeyPair } from "../transport/curve.ts";
import { CliError, ExitCode } from "./common.ts";

export async function keyPairFrom(dir: string, option: string): Promise<CurveKeyPair> {
  try {
    return await readKeyPair(dir);
  } catch (err) {
    throw new CliError(`${option} ${dir}: ${(err as Error).message} (write a key pair with: tubular keygen --out ${dir})`, ExitCode.CONFIG);
  }
}

/** A public key given as its z85 text or as the file holding it. */
export async function publicKeyFrom(fileOrZ85: string, option: string): Promise<string> {
  if (isZ85Key(fileOrZ85)) return fileOrZ85;
  try {
    return await readKeyFile(fileOrZ85);
  } catch (err) {
    throw new CliError(`${option} ${fileOrZ85}: neither a 40-character z85 key nor a readable key file (${(err as Error).message})`, ExitCode.CONFIG);
  }
}

export async function trustFrom(dir: string): Promise<Set<string>> {
  try {
    return await loadTrustDir(dir);
  } catch (err) {
    throw new CliError(`--trust ${dir}: ${(err as Error).message}`, ExitCode.CONFIG);
  }
}
