/**
 * A bridge server in its own process, for the hostile-input tests and the
 * fuzz suite: started as `tubular serve` starts it (startBridge), with the
 * limits given as JSON in argv[2]; prints `{"port":N,"pid":N}` when it
 * listens, and closes on SIGTERM. An uncaught exception ends it with code 1,
 * as it would end `tubular serve`.
 */
import { startBridge } from "../../src/bridge/index.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as Record<string, unknown>;
const { server, port } = await startBridge({ port: 0, apiKeys: ["fuzz-key"], ...options });
process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
process.once("SIGTERM", () => {
  void server.close().then(() => process.exit(0));
});
