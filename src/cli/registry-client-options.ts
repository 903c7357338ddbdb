/**
 * What `tubular jobs` and `tubular workers` share: where the server is and
 * the key, from options or the environment.
 */
import type { Command } from "commander";
import { RegistryClient } from "../bridge/registry/client.ts";
import { CliError, ExitCode } from "./common.ts";

export interface ServerOptions {
  server?: string;
  apiKey?: string;
  json?: boolean;
}

export function serverOptions(command: Command): Command {
  return command
    .option("--server <url>", "the job registry: http://HOST:PORT of tubular serve (default: TUBULAR_SERVER or http://127.0.0.1:8765)")
    .option("--api-key <key>", "the server's API key (default: TUBULAR_API_KEY)")
    .option("--json", "print JSON");
}

export function clientFrom(o: ServerOptions): RegistryClient {
  const url = o.server ?? process.env.TUBULAR_SERVER ?? "http://127.0.0.1:8765";
  if (!/^https?:\/\/[^/]+\/?$/.test(url)) throw new CliError(`--server ${url}: expected http://HOST:PORT`, ExitCode.CONFIG);
  const apiKey = o.apiKey ?? process.env.TUBULAR_API_KEY;
  if (!apiKey) throw new CliError("an API key is needed: --api-key KEY or TUBULAR_API_KEY", ExitCode.CONFIG);
  return new RegistryClient({ url, apiKey });
}

/** Rows as aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}
