/**
 * tubular's public API, and nothing else. Everything not exported here is
 * internal and may change without notice.
 *
 * @example
 * import { loadTube, LocalRunner } from "tubular";
 * const tube = await loadTube("examples/basic.yaml", { input: { factor: 3 } });
 * const runner = new LocalRunner(tube);
 * await runner.init();
 * console.log(await runner.process()); // 0
 * await runner.deinit();
 */

// ---------------------------------------------------------------- loading graphs

/**
 * Loads a graph (tube) file, YAML or JSON: merges its `extends`, validates it,
 * resolves node types (built-in names, "./module.ts#export" relative to the
 * file, "package#export"), loads nested tubes and applies the tube-scoped
 * inputs. Resolves with a frozen `Tube` that any runner can run.
 *
 * Fails with a `SpecError` whose message is "file: path: reason" and whose
 * `code` says what is wrong (unreadable file, unknown type, missing reference,
 * cycle, more than one return node, missing tube input, ...).
 *
 * @example
 * const tube = await loadTube("graph.yaml", { input: { factor: 3 } });
 */
export { loadTube } from "./spec/load.ts";

/**
 * Like `loadTube`, from a spec object already in memory (e.g. received over
 * the network or built by code). `baseDir` is where relative module types and
 * nested tube paths resolve from; `file` names the spec in errors.
 *
 * Fails with a `SpecError`, as `loadTube`.
 *
 * @example
 * const tube = await loadTubeFromSpec(
 *   { nodes: { a: { type: "count" }, r: { type: "return", depends: "a.index" } } },
 *   { baseDir: process.cwd() },
 * );
 */
export { loadTubeFromSpec } from "./spec/load.ts";

/**
 * A graph file and its `extends`, merged and validated, without resolving
 * types or building the graph. Fails with a `SpecError`, as `loadTube`.
 *
 * @example
 * const spec = await loadSpec("graph.yaml", { tubePath: ["./pipelines"] });
 */
export { loadSpec } from "./spec/load.ts";

/**
 * The node-type map (`LoadOptions.typeMap`): names such as noob's
 * `mypkg.nodes.*` mapped to tubular types. `loadTypeMap` reads a YAML/JSON
 * file (relative modules resolve from its folder); `typeMapFromObject` builds
 * one in code. A malformed entry fails with a `SpecError`.
 *
 * @example
 * const tube = await loadTube("graph.yaml", { typeMap: await loadTypeMap("types.yaml") });
 */
export { loadTypeMap, typeMapFromObject, type TypeMap } from "./spec/type-map.ts";

/**
 * Thrown by a generator source once it returned; a runner ends free-run there
 * cleanly and `process()` rejects with `TUBULAR_ERR_SOURCE_ENDED`.
 *
 * @example
 * if (err.code === "TUBULAR_ERR_SOURCE_ENDED") console.log(`${err.nodeId} ended`);
 */
export { SourceEnded } from "./node/define.ts";

/**
 * Options of `loadTube` (`input`: tube-scoped input values; `nodeTypes`: more
 * node types by name) and of `loadTubeFromSpec` (plus `baseDir`, `file`).
 *
 * @example
 * const options: LoadOptions = { input: { factor: 2 } };
 */
export type { LoadOptions, LoadSpecOptions } from "./spec/load.ts";

/**
 * A validated, frozen graph: its nodes, edges, topological order, inputs and
 * return shape. Made by `loadTube`; runners take it. Never fails once made.
 *
 * @example
 * const tube: Tube = await loadTube("graph.yaml");
 * console.log(tube.order); // node ids, upstream first
 */
export type { Tube, TubeNode, Edge, EdgeSource } from "./graph/tube.ts";

/**
 * The JSON Schema of the graph file format, generated from the zod schema
 * that validates graph files (so the two never disagree). `tubular schema`
 * prints it. Does not fail.
 *
 * @example
 * writeFileSync("tube.schema.json", JSON.stringify(tubeJsonSchema(), null, 2));
 */
export { tubeJsonSchema } from "./spec/schema.ts";

/**
 * The types of a graph file as parsed: the whole file, one node, one input.
 *
 * @example
 * const spec: TubeSpec = { nodes: { a: { type: "count" } } };
 */
export type { TubeSpec, NodeSpec, InputSpec } from "./spec/schema.ts";

// ---------------------------------------------------------------- running

/**
 * Runs a tube in this process: the reference runner, which every other runner
 * matches call for call and value for value. `init()` instantiates the nodes;
 * `process(input)` runs one epoch and resolves with the return value (null
 * when the return node had nothing); `iter(n)`, `run(n)`, `start()`/`stop()`
 * run many; `deinit()` releases the nodes.
 *
 * `process()` rejects with an `InputError` (a process input missing or of the
 * wrong type; no node ran and no epoch was used), or a `NodeError` (a node
 * threw: node id, epoch, message and stack). A call in the wrong state
 * (e.g. `process()` before `init()`) throws a `TubularError` with code
 * `TUBULAR_ERR_RUNNER_STATE`.
 *
 * @example
 * const runner = new LocalRunner(await loadTube("graph.yaml"));
 * await runner.init();
 * const value = await runner.process({ x: 1 });
 * for await (const v of runner.iter(10)) console.log(v);
 * await runner.deinit();
 */
export { LocalRunner } from "./runner/local.ts";

/**
 * Options of `LocalRunner`: `maxInFlight`, the epochs in flight at once
 * during free-run (backpressure window, default 16).
 *
 * @example
 * new LocalRunner(tube, { maxInFlight: 4 });
 */
export type { LocalRunnerOptions } from "./runner/local.ts";

/**
 * The contract every runner keeps (`LocalRunner`, and the ZeroMQ runner):
 * `init`, `process`, `iter`, `run`, `start`, `stop`, `deinit`, and the events
 * `event` (every signal a node emits), `epoch` (each finished epoch's
 * `{ epoch, value }`) and `error`. Code written against `Runner` runs on any.
 *
 * @example
 * async function firstTen(runner: Runner): Promise<unknown[]> {
 *   const out: unknown[] = [];
 *   for await (const v of runner.iter(10)) out.push(v);
 *   return out;
 * }
 */
export type { Runner, RunnerState, RunnerEvents, TubeEvent, EpochResult } from "./runner/runner.ts";

/**
 * Runs a tube across node runner processes that exchange events directly over
 * ZeroMQ (ipc on one machine; tcp with CurveZMQ across machines with
 * `listen`, `keys`, `trust`). Same calls and results as LocalRunner.
 * `init()` rejects (TUBULAR_ERR_RUNNER_TIMEOUT) naming the nodes or hosts not
 * ready; a node error rejects `process()` with a NodeError carrying the remote
 * stack; a runner that dies fails what is in flight with
 * TUBULAR_ERR_RUNNER_DIED (and, with a restart policy, the run goes on).
 * `deinit()` leaves no process or socket file behind.
 *
 * @example
 * const runner = new ZmqRunner(await loadTube("graph.yaml"), { maxInFlight: 64 });
 * await runner.init();
 * console.log(await runner.process());
 * await runner.deinit();
 */
export { ZmqRunner } from "./runner/zmq/zmq-runner.ts";
export type { ZmqRunnerOptions, ZmqRunnerStats, RunStatus, NodeReport } from "./runner/zmq/zmq-runner.ts";
/** Per node, measured where it runs: runs, errors, events per signal, process time p50/p99 (`status().nodes[id].metrics`, `LocalRunner.nodeMetrics()`). */
export type { NodeMetricsReport } from "./runner/node-metrics.ts";

/**
 * A host agent (what `tubular host` runs): joins a command node over CurveZMQ,
 * reports this machine's resources, and starts and restarts the node runners
 * placed on it. Node types resolve from this machine's own library and
 * `modules` folder only.
 *
 * @example
 * const agent = new HostAgent({ connect: "tcp://10.0.0.1:5555", name: "gpu1", keys, commandKey, advertise: "10.0.0.2", logger });
 * await agent.start();
 */
export { HostAgent, type HostAgentOptions } from "./host/host-agent.ts";

/**
 * CurveZMQ keys: a new key pair (z85 text), and reading/writing the
 * `public.key` / `secret.key` files `tubular keygen` writes.
 *
 * @example
 * const pair = generateKeyPair(); await writeKeyPair("keys/command", pair);
 */
export { generateKeyPair, readKeyPair, writeKeyPair, loadTrustDir, type CurveKeyPair } from "./transport/curve.ts";

// ---------------------------------------------------------------- writing nodes

/**
 * Defines a node type with typed, validated slots (zod schemas; a schema that
 * accepts undefined, e.g. `.default(2)`, makes an optional slot), signals
 * (names, or zod schemas), optional `init` (builds state from params, once),
 * `process` (one epoch: the value of the one signal, or an object keyed by
 * signal; `undefined` or `NoEvent` emits nothing) and `deinit`. Nodes are
 * stateful (epochs in order) unless `stateful: false`.
 *
 * Throws a `TubularError` (`TUBULAR_ERR_NODE_DEFINITION`) when `process` is
 * missing. A slot value that fails its schema fails that epoch with a
 * `NodeError` naming the slot.
 *
 * @example
 * export const scale = defineNode({
 *   slots: { value: z.number(), factor: z.number().default(2) },
 *   process: ({ value, factor }) => value * factor,
 * });
 */
export { defineNode } from "./node/define.ts";

/**
 * The options of `defineNode`, and the context `process` receives (node id,
 * epoch, state, params).
 *
 * @example
 * const options: DefineNodeOptions<{ n: number }> = { init: () => ({ n: 0 }), process: (_i, { state }) => state.n++ };
 */
export type { DefineNodeOptions, ProcessContext } from "./node/define.ts";

/**
 * Returned by a node (as its whole result, or as one signal's value) to say
 * "no event in this epoch". Downstream nodes whose required slot it feeds do
 * not run in that epoch; optional slots fall back to their default.
 *
 * @example
 * process: ({ value }) => (value > 0 ? value : NoEvent)
 */
export { NoEvent } from "./node/definition.ts";

/**
 * The normalized node type every form (defineNode, function, generator,
 * class) becomes; what `LoadOptions.nodeTypes` takes.
 *
 * @example
 * const types: Record<string, NodeDefinition> = { scale };
 */
export type { NodeDefinition, NodeContext, InitContext, ChildRun, NodeInstance, SlotSpec } from "./node/definition.ts";

// ---------------------------------------------------------------- epochs

/**
 * An epoch: a root epoch is an integer; inside a `map`, a sub-epoch is
 * `[root, [mapNode, i], ...]`. Events and errors carry one.
 *
 * @example
 * const e: Epoch = [3, ["each", 0]]; // item 0 of map node "each" in epoch 3
 */
export type { Epoch, SubEpochStep } from "./graph/epoch.ts";

// ---------------------------------------------------------------- errors

/**
 * Every error the library throws is a `TubularError`, with a stable `code`
 * (one of `ErrorCodes`) and a `context` (file, path, node id, epoch, ...).
 *
 * @example
 * try { await runner.process(); } catch (e) { if (e instanceof TubularError) console.error(e.code); }
 */
export { TubularError } from "./errors.ts";

/**
 * A graph file or spec is wrong: `file`, `path` (e.g. "nodes.b.depends[0]")
 * and `reason`; the message reads "file: path: reason".
 *
 * @example
 * catch (e) { if (e instanceof SpecError) console.error(e.file, e.path, e.reason); }
 */
export { SpecError } from "./errors.ts";

/**
 * A node threw: `nodeId`, `epoch`, `errorType`, `errorMessage`, and the node's
 * own stack (`remoteStack`, from whichever process ran the node).
 *
 * @example
 * catch (e) { if (e instanceof NodeError) console.error(e.nodeId, e.epoch, e.errorMessage); }
 */
export { NodeError } from "./errors.ts";

/**
 * A runner process died or became unreachable (code TUBULAR_ERR_RUNNER_DIED):
 * a NodeError whose `nodeIds` names every node that process held.
 *
 * @example
 * catch (e) { if (e instanceof RunnerDiedError) console.error(e.nodeIds.join(", "), e.errorMessage); }
 */
export { RunnerDiedError } from "./errors.ts";

/**
 * A process-scoped input is missing or of the wrong type (`input` names it).
 * Raised before any node runs; the epoch is not used.
 *
 * @example
 * catch (e) { if (e instanceof InputError) console.error(`give input ${e.input}`); }
 */
export { InputError } from "./errors.ts";

/**
 * Every error code, with a one-line description (also in docs/errors.md).
 *
 * @example
 * if (err.code === "TUBULAR_ERR_SPEC_CYCLE") console.error(ErrorCodes[err.code]);
 */
export { ErrorCodes } from "./errors.ts";

/**
 * The union of the error codes, and the context an error carries.
 *
 * @example
 * const code: ErrorCode = "TUBULAR_ERR_NODE_FAILED";
 */
export type { ErrorCode, ErrorContext } from "./errors.ts";

// ---------------------------------------------------------------- bridge

/**
 * The JSON-RPC 2.0 over WebSocket bridge: `startBridge` (what `tubular serve`
 * runs), `BridgeServer`, and `TubularClient`, the TypeScript client
 * (connect with an API key, call, on, handle, close). Failures are RpcError
 * with the JSON-RPC code; a node error carries node id, epoch, error type and
 * message in its data.
 *
 * @example
 * const client = new TubularClient("ws://127.0.0.1:8765/ws/v0/rpc/");
 * await client.connect("my-key");
 * const { tube_id } = await client.call("tube.load", { path: "basic.yaml" });
 */
export { startBridge, BridgeServer, TubularClient, RpcError, RpcCodes, CallableError } from "./bridge/index.ts";
export type { StartBridgeOptions, BridgeOptions, CallOptions, ConnectOptions } from "./bridge/index.ts";

// ---------------------------------------------------------------- job registry

/**
 * The job registry of `tubular serve`: `openJobServer` opens its store (a
 * SQLite file, or `postgres://...`) and gives `BridgeOptions.httpHandler`;
 * `RegistryClient` calls its HTTP API (rejects with RegistryRequestError:
 * `status` 400/401/404/413, or 0 with TUBULAR_ERR_REGISTRY_UNREACHABLE);
 * `RegistryWorker` is a host agent working for it. Store failures are
 * TUBULAR_ERR_STORE.
 *
 * @example
 * const jobs = await openJobServer({ db: "jobs.db", graphsDir: "examples", log: pino() });
 * const server = new BridgeServer({ apiKeys: ["k"], port: 8765, httpHandler: jobs.httpHandler });
 * await server.start();
 * const client = new RegistryClient({ url: "http://127.0.0.1:8765", apiKey: "k" });
 * const run = await client.createRun({ image: "basic.yaml", inputs: { factor: 2, epochs: 3 } });
 */
export { openJobServer, RegistryClient } from "./bridge/registry/index.ts";
export type { JobServer, JobServerOptions, RegistryClientOptions } from "./bridge/registry/index.ts";
export { RegistryRequestError } from "./bridge/registry/client.ts";
export { RegistryWorker, type RegistryWorkerOptions } from "./host/registry-worker.ts";
export { openStore, type Store } from "./store/index.ts";

// ---------------------------------------------------------------- dashboard

/**
 * Serves the live dashboard of the given runs (graph, statuses, rates, errors,
 * hosts, runner processes) at `http://127.0.0.1:PORT/`. Rejects with
 * TUBULAR_ERR_AUTH beyond loopback without `apiKeys`, and with the listen
 * error when the port is taken.
 *
 * @example
 * const dashboard = await startDashboard({ runs: [{ id: "main", label: tube.id, kind: "zmq", tube, runner }] });
 * console.log(dashboard.url);
 */
export { startDashboard } from "./bridge/dashboard/start.ts";
export type { Dashboard, DashboardOptions } from "./bridge/dashboard/start.ts";
export type { WatchedRun } from "./bridge/dashboard/feed.ts";
export type { TrackingSource } from "./bridge/dashboard/tracking-feed.ts";
