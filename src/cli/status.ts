/**
 * `tubular status --connect ...`: asks a running command node for its hosts,
 * their resources, and each node's status, host, pid, restarts and epochs
 * processed. The operator's key must be in the command node's trust directory.
 */
import { Command } from "commander";
import { Codec } from "../protocol/codec.ts";
import { openSocket, receiveBefore } from "../transport/sockets.ts";
import { makeMessage } from "../protocol/message.ts";
import type { RunStatus } from "../protocol/status-report.ts";
import { curveClientOptions } from "../transport/curve.ts";
import { CliError, ExitCode, defaultContext, reportError, toJson, type CliContext } from "./common.ts";
import { keyPairFrom, publicKeyFrom } from "./keys.ts";

interface StatusOptions {
  connect: string;
  keys: string;
  commandKey: string;
  timeout: string;
  json?: boolean;
}

export async function requestStatus(options: { connect: string; keys: Parameters<typeof curveClientOptions>[0]; commandKey: string; timeoutMs: number }): Promise<RunStatus> {
  const codec = new Codec();
  const socket = openSocket("client", codec.maxMessageBytes, { linger: 0, ...curveClientOptions(options.keys, options.commandKey) });
  try {
    socket.connect(options.connect);
    const deadline = performance.now() + options.timeoutMs;
    await socket.send(codec.encode(makeMessage("status_request", `op:${process.pid}`, null))[0]!);
    for (;;) {
      const msg = codec.decodeSafe(await receiveBefore(socket, deadline));
      if (msg?.type === "status_report") return msg.value;
    }
  } catch (err) {
    if ((err as { code?: string }).code === "EAGAIN") throw new CliError(`no answer from ${options.connect} within ${options.timeoutMs} ms (is it running, and is this key trusted?)`, ExitCode.FAILED);
    throw err;
  } finally {
    socket.close();
  }
}

export function statusCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("status")
    .description("show a running command node's hosts and nodes")
    .requiredOption("-c, --connect <endpoint>", "the command node's address, e.g. tcp://10.0.0.1:5555")
    .requiredOption("--keys <dir>", "your key pair directory (its public key must be in the command node's trust directory)")
    .requiredOption("--command-key <file|z85>", "the command node's public key")
    .option("--timeout <ms>", "how long to wait for the answer", "3000")
    .option("--json", "print the status as JSON")
    .action(async (options: StatusOptions) => {
      try {
        const status = await requestStatus({ connect: options.connect, keys: await keyPairFrom(options.keys, "--keys"), commandKey: await publicKeyFrom(options.commandKey, "--command-key"), timeoutMs: Number(options.timeout) });
        if (options.json) ctx.stdout.write(`${toJson(status)}\n`);
        else ctx.stdout.write(formatStatus(status));
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        ctx.exitCode = reportError(err, ctx.stderr);
      }
    });
}

function formatStatus(status: RunStatus): string {
  const lines = [`state: ${status.state}, epochs completed: ${status.epochsCompleted}`, "hosts:"];
  for (const [name, h] of Object.entries(status.hosts)) {
    lines.push(`  ${name}${h.alive ? "" : " (lost)"}  labels=${h.labels.join(",") || "-"}  cpus=${h.resources.cpus}  mem=${Math.round(h.resources.memory_free / 2 ** 20)}/${Math.round(h.resources.memory_total / 2 ** 20)} MiB free  load=${h.resources.load.map((l) => l.toFixed(2)).join(" ")}`);
  }
  lines.push("nodes:");
  for (const [id, n] of Object.entries(status.nodes)) lines.push(`  ${id}  host=${n.host}  pid=${n.pid ?? "-"}  status=${n.status}  restarts=${n.restarts}  epochs=${n.epochs}`);
  return `${lines.join("\n")}\n`;
}
