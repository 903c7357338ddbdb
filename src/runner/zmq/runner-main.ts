/**
 * Entry point of a node runner process: `runner-main.ts CONFIG_FILE RUNNER_ID [HEARTBEAT_WORKER]`
 * (the script of its heartbeat thread, when not next to this file: see runner-entry.ts).
 * Spawned by the driver (or a host agent); exits when told to, or by itself
 * when the command node goes silent.
 */
import { readFileSync } from "node:fs";
import { rootLogger, type LogLevel } from "../../log.ts";
import { RunnerProcessConfig } from "../../protocol/runner-config.ts";
import { NodeRunner } from "./node-runner.ts";

const [configFile, runnerId, heartbeatWorker] = process.argv.slice(2);
if (!configFile || !runnerId) {
  process.stderr.write("usage: runner-main CONFIG_FILE RUNNER_ID [HEARTBEAT_WORKER]\n");
  process.exit(2);
}
const config = RunnerProcessConfig.parse(JSON.parse(readFileSync(configFile, "utf8")));
const log = rootLogger(config.logLevel as LogLevel, { runner: runnerId });
const runner = new NodeRunner(config, runnerId, log, heartbeatWorker || undefined);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    log.info({ signal }, "stopping");
    void runner.shutdown(0);
  });
}
process.on("uncaughtException", (err) => {
  log.fatal({ err }, "uncaught exception");
  process.exit(70);
});

runner.run().then(
  (code) => process.exit(code),
  (err) => {
    log.fatal({ err }, "runner failed to start");
    process.exit(1);
  },
);
