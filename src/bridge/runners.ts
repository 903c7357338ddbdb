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
import { LocalRunner } from "../runner/local.ts";
import type { Runner } from "../runner/runner.ts";
import { RpcCodes, RpcError } from "./jsonrpc.ts";
import { RPC_MODULE_TYPE } from "./rpc-node.ts";
import type { LoadedTube, RunnerKind } from "./session.ts";

export const RUNNER_KINDS = ["local", "zmq"] as const satisfies readonly RunnerKind[];

/** Whether a runner kind runs nodes outside the bridge's process. */
export function runsOutOfProcess(kind: RunnerKind): boolean {
  return kind !== "local";
}

export function createRunner(kind: RunnerKind, tube: Tube, options: Record<string, unknown>): Runner {
  void options;
  switch (kind) {
    case "local":
      return new LocalRunner(tube);
    case "zmq":
      throw new RpcError(RpcCodes.NOT_AVAILABLE, 'runner "zmq" is not available in this build of the bridge; use "local"', { runner: "zmq" });
  }
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
