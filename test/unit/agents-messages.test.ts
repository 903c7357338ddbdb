import { describe, expect, it } from "vitest";
import { SERVER_FIELDS, ServerToWorker, toWorker, WorkerMessage } from "../../src/bridge/agents/messages.ts";

describe("agents - protocol messages", () => {
  it("refuses a server-to-worker message with a key outside the common fields", () => {
    expect(() => toWorker({ type: "availability_request", job_id: "j", room_id: "r", agent_name: "a", job_type: "x" } as never)).toThrow();
    expect(() => toWorker({ type: "pong", timestamp: 1, extra: 1 } as never)).toThrow();
    expect(() => toWorker({ type: "job_termination", job_id: "j", reason: null, namespace: "n" } as never)).toThrow();
  });

  it("sends exactly the common fields of each type", () => {
    const samples: ServerToWorker[] = [
      { type: "availability_request", job_id: "j", room_id: "r", agent_name: "a" },
      { type: "job_assignment", job_id: "j", room_id: "r", agent_name: "a", token: "t", url: "u", room_options: null, metadata: { graph: {} } },
      { type: "job_termination", job_id: "j", reason: "cancelled" },
      { type: "pong", timestamp: 5 },
    ];
    for (const s of samples) expect(Object.keys(JSON.parse(toWorker(s))).sort()).toEqual([...SERVER_FIELDS[s.type]!].sort());
  });

  it("accepts every WorkerMessage field and drops unknown ones", () => {
    const m = WorkerMessage.parse({
      type: "register", worker_id: "", agent_name: "a", namespace: "default", version: "1.0.0", capabilities: ["room"], status: "idle", load: 0.5, job_count: 1, job_id: "j", available: true,
      participant_identity: "p", participant_name: "n", participant_metadata: "{}", error: null, registry_uuid: "default", max_capacity: 3, current_load: 0.1, token: "t", load_threshold: 0.75, max_processes: 10, timestamp: 1, future_field: 1,
    });
    expect(m.load_threshold).toBe(0.75);
    expect("future_field" in m).toBe(false);
  });
});
