/**
 * A worker that speaks the reference's frames exactly, as videosdk-agents'
 * BackendConnection sends them (json.dumps of WorkerMessage.dict(): None
 * values left out). Every frame it receives is checked against the fields
 * the reference client's classes accept (written out here, independently of
 * the server's own schemas): one key outside them is recorded as a
 * violation, which the tests assert never happens.
 */
import WebSocket from "ws";

/** The fields shared by the reference document's classes and videosdk-agents 1.0.24. */
export const CLIENT_FIELDS: Record<string, string[]> = {
  availability_request: ["type", "job_id", "room_id", "agent_name"],
  job_assignment: ["type", "job_id", "room_id", "agent_name", "token", "url", "room_options", "metadata"],
  job_termination: ["type", "job_id", "reason"],
  pong: ["type", "timestamp"],
  register: ["type", "success", "worker_id", "payload", "message"],
};

export type Frame = Record<string, unknown> & { type: string };

/** WorkerMessage.dict(): the fields that are not None. */
function dict(m: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null && v !== undefined)));
}

export class ReferenceWorker {
  readonly frames: Frame[] = [];
  readonly violations: string[] = [];
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  ws!: WebSocket;
  workerId = "";

  constructor(private readonly url: string, private readonly token: string, readonly agentName = "tubular-test-agent") {}

  /** Opens the socket; rejects with the HTTP status on a refused upgrade. */
  async open(): Promise<void> {
    this.ws = new WebSocket(this.url, { headers: { Authorization: `Bearer ${this.token}` } });
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      const allowed = CLIENT_FIELDS[f.type];
      if (!allowed) this.violations.push(`unknown type ${f.type}`);
      else for (const k of Object.keys(f)) if (!allowed.includes(k)) this.violations.push(`${f.type}.${k}`);
      this.frames.push(f);
      for (const w of [...this.waiters]) {
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    });
  }

  /** The register message of _establish_connection, with the worker id kept from before ("" the first time). */
  async register(o: { loadThreshold?: number; maxProcesses?: number } = {}): Promise<Frame> {
    const reply = this.next((f) => f.type === "register");
    this.send({
      type: "register",
      worker_id: this.workerId,
      agent_name: this.agentName,
      namespace: "default",
      version: "1.0.0",
      capabilities: ["room", "voice", "stt", "tts"],
      registry_uuid: "default",
      token: this.token,
      load_threshold: o.loadThreshold ?? 0.75,
      max_processes: o.maxProcesses ?? 10,
    });
    const r = await reply;
    if (r.success) this.workerId = String(r.worker_id);
    return r;
  }

  send(m: Record<string, unknown>): void {
    this.ws.send(dict(m));
  }

  /** AvailabilityResponse.dict() */
  answer(jobId: string, available: boolean): void {
    this.send({ type: "availability_response", job_id: jobId, available, error: null, token: available ? this.token : null });
  }

  /** The worker's send of a job update (WorkerMessage with job fields). */
  update(jobId: string, status: string, error?: string, participantMetadata?: string): void {
    this.send({ type: "job_update", worker_id: this.workerId, job_id: jobId, status, error, participant_metadata: participantMetadata });
  }

  status(status: string, load: number, jobCount: number): void {
    this.send({ type: "status_update", worker_id: this.workerId, status, load, job_count: jobCount });
  }

  /** The next frame matching `pred` that arrives from now on (or already arrived and not yet taken, when `past`). */
  next(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((r) => this.ws.once("close", r));
    this.ws.close();
    await closed;
  }

  /** Drops the TCP connection without a close frame, as a crash would. */
  async kill(): Promise<void> {
    const closed = new Promise((r) => this.ws.once("close", r));
    this.ws.terminate();
    await closed;
  }
}
