// Runs the whole test suite twice in a row while a busy loop holds one core: the
// suite must pass both times on a machine that is not idle (a timing assumption
// that holds only on an idle machine shows up here). `npm run test:loaded`
// [-- --runs N] [-- any vitest arguments]. The busy loop is a child of this
// script and is ended by its pid, whatever happens.
import { spawn, spawnSync } from "node:child_process";

const args = process.argv.slice(2);
let runs = 2;
const runsAt = args.indexOf("--runs");
if (runsAt !== -1) {
  runs = Number(args[runsAt + 1]);
  args.splice(runsAt, 2);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error("--runs takes a positive whole number");
    process.exit(2);
  }
}

const busy = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
const endBusy = () => {
  if (busy.exitCode === null && busy.signalCode === null) busy.kill("SIGKILL");
};
process.on("exit", endBusy);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    endBusy();
    process.exit(130);
  });
}

const results = [];
for (let run = 1; run <= runs; run++) {
  const started = Date.now();
  console.log(`\n== run ${run} of ${runs}, with a busy loop (pid ${busy.pid}) on one core ==\n`);
  const result = spawnSync("npx", ["vitest", "run", ...args], { stdio: "inherit" });
  const seconds = Math.round((Date.now() - started) / 1000);
  results.push({ run, status: result.status, seconds });
}
endBusy();

for (const { run, status, seconds } of results) {
  console.log(`run ${run}: ${status === 0 ? "passed" : `FAILED (exit ${status})`} in ${seconds} s`);
}
process.exit(results.every((r) => r.status === 0) ? 0 : 1);
