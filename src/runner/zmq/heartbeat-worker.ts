/**
 * The heartbeat thread of a node runner process (a worker_thread; its
 * main-thread side is heartbeat-thread.ts). It sends the runner's heartbeat
 * to the command node from its own event loop, on its own CLIENT connection
 * to the command inbox (its own ZeroMQ context, as each thread has one), so a
 * node that computes for a minute without yielding does not silence its
 * runner. The main thread hands over the heartbeat's bytes (it encodes them:
 * the run token, the status, and when the main thread last ran); this thread
 * resends the latest bytes every interval, and never decodes anything.
 *
 * The command node answers each heartbeat on this connection. A frame on it
 * can only come from the command inbox (CURVE authenticates the server when
 * the run uses keys; ipc stays on this machine), so any frame is its sign of
 * life. When the command has been silent for `commandTimeoutMs`, this thread
 * tells the main thread to shut down; if the main thread is too busy to do so
 * for as long again, it ends the process itself: a runner whose driver is
 * gone must not compute forever.
 *
 * Imports stay few (zeromq and the socket factory): this file is the
 * thread's entry, loaded once per runner process.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSocket } from "../../transport/sockets.ts";
import { curveClientOptions } from "../../transport/curve.ts";
import type { HeartbeatWorkerData, ToHeartbeatWorker } from "./heartbeat-thread.ts";

if (!parentPort) throw new Error("heartbeat-worker runs as a worker thread of a node runner");
const port = parentPort;
const data = workerData as HeartbeatWorkerData;

const socket = openSocket("client", data.maxMessageBytes, {
  linger: 0,
  // A heartbeat that cannot leave now is dropped, not queued: the next one is as good.
  sendTimeout: 0,
  sendHighWaterMark: 4,
  ...(data.curve ? curveClientOptions({ publicKey: data.curve.publicKey, secretKey: data.curve.secretKey }, data.curve.commandKey) : {}),
});
socket.connect(data.inbox);

let frame: Buffer | undefined;
let sending = false;
let lastHeard = Date.now();
let goneSince: number | undefined;
let stopped = false;

function beat(): void {
  if (stopped || sending || frame === undefined) return;
  sending = true;
  socket.send(frame).then(
    () => (sending = false),
    () => (sending = false),
  );
}

function watchCommand(): void {
  const silentMs = Date.now() - lastHeard;
  if (silentMs < data.commandTimeoutMs) {
    goneSince = undefined;
    return;
  }
  if (goneSince === undefined) {
    goneSince = Date.now();
    port.postMessage({ kind: "command-gone", silentMs });
  } else if (Date.now() - goneSince >= data.commandTimeoutMs) {
    // The main thread did not get to shut down (a node holds it): end the process.
    process.kill(process.pid, "SIGKILL");
  }
}

/**
 * The command's answers are read once per beat, all that queued since the
 * last one, instead of by a read loop at the idle pace (idle-poll.ts): a CLIENT
 * cannot be waited on without spinning, and the idle pace woke this thread
 * about 40 times a second (1, 2, 4 .. 32 ms after each answer) to learn
 * nothing a beat later would not. Each wake-up is one more thread wanting one
 * of two cores while a `process()` crosses the runner (docs/performance.md,
 * chain3's tail). An answer is seen up to one interval late, well inside
 * `commandTimeoutMs`.
 */
async function drainAnswers(): Promise<void> {
  for (;;) {
    try {
      await socket.receive(); // the socket's receive timeout is zero (sockets.ts): EAGAIN once nothing is queued
    } catch {
      return;
    }
    lastHeard = Date.now();
  }
}

let draining = false;
const timer = setInterval(() => {
  beat();
  if (draining || stopped) return;
  draining = true;
  void drainAnswers().then(() => {
    draining = false;
    if (!stopped) watchCommand();
  });
}, data.intervalMs);

function stop(): void {
  if (stopped) return;
  stopped = true;
  clearInterval(timer);
  socket.close();
  port.close();
}

port.on("message", (msg: ToHeartbeatWorker) => {
  if (msg.kind === "beat") {
    const first = frame === undefined;
    frame = Buffer.from(msg.frame);
    // The first heartbeat goes at once: the command counts a runner as up only once it hears this thread.
    if (first) beat();
  } else stop();
});
// The main thread is gone (or let go of this thread): nothing left to speak for.
port.on("close", stop);
