/**
 * The one place the bridge makes runners. `runner.init` names a kind; this
 * file turns it into a Runner over the tube (wiring another kind in is a
 * one-line change in `createRunner`).
 *
 * For runners whose nodes run in other processes (zmq), `rpc` nodes cannot
 * use the session object: the tube is rebuilt with those nodes typed as the
 * `rpc` module export and given the relay address and the session's relay
 * token, so the node runner process reaches the client through the bridge.
 */
import { loadTubeFromSpec } from "../spec/load.ts";
import type { Tube } from "../graph/tube.ts";
import { z } from "zod";
import { createRunner as makeRunner } from "../runner/factory.ts";
import type { Runner } from "../runner/runner.ts";
import { issuesData, RpcCodes, RpcError } from "./jsonrpc.ts";
import { RPC_MODULE_TYPE } from "./rpc-node.ts";
import type { LoadedTube, RunnerKind } from "./session.ts";

export const RUNNER_KINDS = ["local", "zmq"] as const satisfies readonly RunnerKind[];

/** Whether a runner kind runs nodes outside the bridge's process. */
export function runsOutOfProcess(kind: RunnerKind): boolean {
  return kind !== "local";
}

/**
 * The runner options a client may set, per kind. Anything that decides where
 * the server binds or writes (host, output) stays the server's choice.
 */
export const RunnerOptions = {
  local: z.strictObject({ maxInFlight: z.number().int().positive().max(4096).optional() }),
  zmq: z.strictObject({
    transport: z.enum(["ipc", "tcp"]).optional(),
    maxInFlight: z.number().int().positive().max(4096).optional(),
    initTimeoutMs: z.number().int().positive().max(300_000).optional(),
    deinitTimeoutMs: z.number().int().positive().max(60_000).optional(),
  }),
} as const;

function parseOptions<K extends RunnerKind>(kind: K, options: Record<string, unknown>): z.output<(typeof RunnerOptions)[K]> {
  const parsed = RunnerOptions[kind].safeParse(options);
  if (!parsed.success) {
    const data = issuesData(parsed.error);
    for (const i of data.issues) i.path.unshift("options");
    throw new RpcError(RpcCodes.INVALID_PARAMS, `Invalid params: options for runner "${kind}"`, data);
  }
  return parsed.data as z.output<(typeof RunnerOptions)[K]>;
}

export function createRunner(kind: RunnerKind, tube: Tube, options: Record<string, unknown>): Runner {
  return kind === "local" ? makeRunner("local", tube, parseOptions("local", options)) : makeRunner("zmq", tube, parseOptions("zmq", options));
}

/** The tube a runner of `kind` gets: the loaded one, or for out-of-process kinds a rebuild whose rpc nodes reach the client through the relay. */
export async function tubeForRunner(kind: RunnerKind, loaded: LoadedTube, relay: { url: string; token: string }): Promise<Tube> {
  const tube = loaded.tube;
  if (!runsOutOfProcess(kind)) return tube;
  const rpcIds = [...tube.nodes.values()].filter((n) => n.type === "rpc").map((n) => n.id);
  if (rpcIds.length === 0) return tube;
  const spec = structuredClone(tube.spec) as { nodes: Record<string, { type: string; params?: Record<string, unknown> }> };
  for (const id of rpcIds) {
    const node = spec.nodes[id]!;
    node.type = RPC_MODULE_TYPE;
    node.params = { ...(node.params ?? {}), __bridge: { url: relay.url, token: relay.token } };
  }
  return loadTubeFromSpec(spec, { baseDir: tube.baseDir, file: tube.file, input: loaded.input });
}
