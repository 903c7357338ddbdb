/**
 * The bridge's method table: every method a client may call, with its zod
 * params schema (checked before the handler runs; a failure is -32602 with
 * the issue paths), its result schema (for the OpenRPC document), and its
 * handler. Compiled once at server start.
 *
 * Params are by name only. Unknown keys are ignored rather than refused.
 * Every method takes `run_uuid` (string or null), as the reference client
 * adds its active run's id to every call's params: it is taken out before the
 * method's own schema sees the params (so no schema, strict or not, refuses
 * it) and kept with the runner the call works on.
 */
import { randomUUID } from "node:crypto";
import { realpath } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import type { Tube } from "../graph/tube.ts";
import { isModuleType } from "../node/registry.ts";
import { loadTube, loadTubeFromSpec } from "../spec/load.ts";
import { issuesData, RpcCodes, RpcError } from "./jsonrpc.ts";
import type { CallContext, Handler } from "./peer.ts";
import { CallableError, rpcNodeType } from "./rpc-node.ts";
import { createRunner, RUNNER_KINDS, tubeForRunner } from "./runners.ts";
import { RunnerEntry, type LoadedTube, type Session } from "./session.ts";
import { DEFAULT_NAMESPACE, Tracker } from "./tracking/tracker.ts";
import { RunnerTracking } from "./tracking/runner-tracking.ts";
import { TrackingError } from "./tracking/tracking-error.ts";
import { slugify } from "./tracking/names.ts";

/** What handlers may use of the server. */
export interface BridgeServices {
  readonly graphsDir: string | undefined;
  /** Inline graphs may name module node types ("./x.ts#y", "pkg#y") only when this is true. */
  readonly allowInlineModules: boolean;
  readonly mirrorTimeoutMs: number;
  readonly log: Logger;
  relayUrl(): string;
  discover(): unknown;
  /** Run tracking over the server's store, when it has one (`tubular serve`). */
  readonly tracker?: Tracker | undefined;
}

export interface MethodContext {
  readonly session: Session;
  readonly call: CallContext;
  readonly services: BridgeServices;
  /** The `run_uuid` the call carried, if any. */
  readonly runUuid: string | null | undefined;
}

/** The run id every call may carry (the reference client's active run). */
export const RunUuid = z.string().max(256).nullable().optional().describe("the caller's run id (the reference client sends its active run's); kept with the runner");

export interface MethodDef<S extends z.ZodType = z.ZodType> {
  readonly summary: string;
  readonly description?: string;
  readonly params: S;
  readonly result: z.ZodType;
  /** Callable only on relay connections (node runner processes), and only there. */
  readonly relay?: boolean;
  readonly handler: (params: z.output<S>, ctx: MethodContext) => unknown;
}

function method<S extends z.ZodType>(def: MethodDef<S>): MethodDef<S> {
  return def;
}

const Id = z.string().min(1);
const Record_ = z.record(z.string(), z.unknown());

const RunnerStatus = z.object({
  runner_id: z.string(),
  tube_id: z.string(),
  runner: z.enum(RUNNER_KINDS),
  state: z.string().describe("created, initializing, ready, running, stopping, closed or failed"),
  epochs: z.number().int().describe("epochs completed"),
  last_epoch: z.number().int().nullable(),
  run_uuid: z.string().nullable().describe("the run id the latest call on this runner carried"),
  track: z.object({ run_uuid: z.string(), owned: z.boolean() }).nullable().optional().describe("the tracked run this runner's metrics go to; owned: made for this runner and finished with it"),
});

const TrackParam = z.object({
  project: z.string().min(1).describe("the project's display name; made when missing"),
  name: z.string().min(1).optional().describe("the run's name (generated when not given; a taken one gets _1, _2, ...)"),
  namespace: z.string().min(1).optional().describe(`default "${DEFAULT_NAMESPACE}"`),
  description: z.string().optional(),
});

const TrackedRunResult = z.object({
  uuid: z.string(),
  name: z.string(),
  description: z.string(),
  status: z.string(),
  namespace: z.string(),
  project: z.string().describe("the project's slug"),
  date_created: z.string(),
  date_updated: z.string(),
});

function needTracker(services: BridgeServices): Tracker {
  if (!services.tracker) throw new RpcError(RpcCodes.NOT_AVAILABLE, "run tracking needs a store: this server has none");
  return services.tracker;
}

/** Tracking errors as JSON-RPC errors: a missing project or run is NOT_FOUND, a bad value INVALID_PARAMS. */
async function tracking<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TrackingError) throw new RpcError(err.status === 404 ? RpcCodes.NOT_FOUND : RpcCodes.INVALID_PARAMS, err.message, { code: err.code });
    throw err;
  }
}

async function trackedView(tracker: Tracker, uuid: string): Promise<z.infer<typeof TrackedRunResult>> {
  const r = await tracker.run(uuid);
  const p = (await tracker.store.getProjectByUuid(r.project_uuid))!;
  const iso = (t: number) => new Date(t).toISOString();
  return { uuid: r.uuid, name: r.name, description: r.description, status: r.status, namespace: p.namespace, project: p.slug, date_created: iso(r.created_at), date_updated: iso(r.updated_at) };
}

const ProcessResult = z.object({ epoch: z.number().int().nullable(), value: z.unknown() });
const RunResult = z.object({ results: z.array(z.object({ epoch: z.number().int(), value: z.unknown() })) });
/** Epochs one run call may ask for: the results travel in one reply (runner.start runs longer). */
const MAX_RUN_EPOCHS = 10_000;

const NodeSummary = z.object({ id: z.string(), type: z.string(), signals: z.array(z.string()) });
const EdgeSummary = z.object({
  from: z.union([z.object({ node: z.string(), signal: z.string() }), z.object({ input: z.string() })]),
  to: z.object({ node: z.string(), slot: z.string() }),
});

/** The id a node has in the client's mirror: unique across the session's tubes. */
export function mirrorNodeId(tubeId: string, nodeId: string): string {
  return `${tubeId}/${nodeId}`;
}

function summarize(tube: Tube): { nodes: z.infer<typeof NodeSummary>[]; edges: z.infer<typeof EdgeSummary>[] } {
  const nodes = [...tube.nodes.values()].map((n) => ({ id: n.id, type: n.type, signals: [...n.signals] }));
  const edges: z.infer<typeof EdgeSummary>[] = [];
  for (const n of tube.nodes.values()) {
    for (const e of n.edges) {
      const from = e.source.kind === "node" ? { node: e.source.node, signal: e.source.signal } : { input: e.source.name };
      edges.push({ from, to: { node: n.id, slot: e.slot } });
    }
  }
  return { nodes, edges };
}

/** Paths a client names must stay inside the graphs directory, symlinks included. */
async function insideGraphsDir(graphsDir: string | undefined, rel: string, what: string): Promise<string> {
  if (!graphsDir) throw new RpcError(RpcCodes.NOT_AVAILABLE, `${what}: this server has no graphs directory (--graphs DIR)`, { param: what });
  const root = await realpath(graphsDir);
  const abs = path.resolve(root, rel);
  let real = abs;
  try {
    real = await realpath(abs);
  } catch {
    // a missing file is reported by the loader, once we know the path is inside
  }
  for (const p of [abs, real]) {
    const r = path.relative(root, p);
    if (r.startsWith("..") || path.isAbsolute(r)) {
      throw new RpcError(RpcCodes.FORBIDDEN, `${what}: "${rel}" is outside the server's graphs directory`, { param: what });
    }
  }
  return abs;
}

/** An inline graph may not reach files outside the graphs directory nor import modules (unless allowed). */
async function checkInlineGraph(graph: Record<string, unknown>, services: BridgeServices): Promise<void> {
  const ext = graph.extends;
  for (const e of typeof ext === "string" ? [ext] : Array.isArray(ext) ? ext : []) {
    if (typeof e === "string") await insideGraphsDir(services.graphsDir, e, "graph.extends");
  }
  const nodes = graph.nodes;
  if (typeof nodes !== "object" || nodes === null) return;
  for (const [id, node] of Object.entries(nodes as Record<string, unknown>)) {
    const type = (node as { type?: unknown })?.type;
    if (typeof type !== "string") continue;
    if (type === "tube") {
      const child = (node as { params?: { tube?: unknown } }).params?.tube;
      if (typeof child === "string") await insideGraphsDir(services.graphsDir, child, `graph.nodes.${id}.params.tube`);
    } else if (isModuleType(type) && !services.allowInlineModules) {
      throw new RpcError(RpcCodes.FORBIDDEN, `graph.nodes.${id}.type: module node types ("${type}") are not allowed in inline graphs on this server; load a graph file from the graphs directory instead`, {
        param: `graph.nodes.${id}.type`,
      });
    }
  }
}

async function mirror(session: Session, tubeId: string, tube: Tube, services: BridgeServices): Promise<boolean> {
  const peer = session.peer;
  if (!peer) return false;
  const opts = { timeoutMs: services.mirrorTimeoutMs };
  try {
    await Promise.all(
      [...tube.nodes.values()].map((n) => peer.request("create_node", { node_id: mirrorNodeId(tubeId, n.id), name: n.type, tube_id: tubeId }, opts)),
    );
    const edges: Promise<unknown>[] = [];
    for (const n of tube.nodes.values()) {
      for (const e of n.edges) {
        // The reference's convention is the backward pass: the edge hangs on the consumer (from) and points at the producer (to).
        const params =
          e.source.kind === "node"
            ? {
                from_node_id: mirrorNodeId(tubeId, n.id),
                to_node_id: mirrorNodeId(tubeId, e.source.node),
                output_nr: Math.max(0, tube.nodes.get(e.source.node)?.signals.indexOf(e.source.signal) ?? 0),
                slot: e.slot,
                signal: e.source.signal,
              }
            : { from_node_id: mirrorNodeId(tubeId, n.id), to_node_id: null, output_nr: 0, slot: e.slot, input: e.source.name };
        edges.push(peer.request("create_edge", params, opts));
      }
    }
    await Promise.all(edges);
    return true;
  } catch (err) {
    session.log.info({ tube: tubeId, err: (err as Error).message }, "the client did not take the graph mirror");
    return false;
  }
}

export const methods = {
  "tube.load": method({
    summary: "Loads a tube from a graph spec object or a file in the server's graphs directory, and mirrors it to the client.",
    description:
      "Exactly one of `graph` and `path`. After loading, the server calls create_node for every node and create_edge for every edge on the client (unless `mirror` is false); `mirrored` says whether the client took them all.",
    params: z
      .object({
        graph: Record_.optional().describe("a graph spec object, as in a graph file"),
        path: z.string().min(1).optional().describe("a graph file, relative to the server's graphs directory"),
        input: Record_.optional().describe("tube-scoped input values"),
        mirror: z.boolean().default(true),
      })
      .refine((p) => (p.graph === undefined) !== (p.path === undefined), { message: "give exactly one of graph and path", path: ["graph"] }),
    result: z.object({ tube_id: z.string(), nodes: z.array(NodeSummary), edges: z.array(EdgeSummary), mirrored: z.boolean() }),
    async handler(p, { session, services }) {
      const nodeTypes = { rpc: rpcNodeType((callable, args, kwargs, timeoutMs) => session.invokeCallable(callable, args, kwargs, timeoutMs)) };
      const input = p.input ?? {};
      let tube: Tube;
      if (p.path !== undefined) {
        tube = await loadTube(await insideGraphsDir(services.graphsDir, p.path, "path"), { input, nodeTypes });
      } else {
        await checkInlineGraph(p.graph!, services);
        tube = await loadTubeFromSpec(p.graph, { baseDir: services.graphsDir ?? process.cwd(), input, nodeTypes });
      }
      for (const n of tube.nodes.values()) {
        if (n.type === "rpc" && (typeof n.params.callable !== "string" || n.params.callable === "")) {
          throw new RpcError(RpcCodes.SPEC_INVALID, `nodes.${n.id}.params.callable: an rpc node names the callable it runs`, {
            code: "TUBULAR_ERR_SPEC_INVALID",
            path: `nodes.${n.id}.params.callable`,
          });
        }
      }
      const id = `tube-${randomUUID().slice(0, 13)}`;
      const loaded: LoadedTube = { id, tube, input };
      session.tubes.set(id, loaded);
      const mirrored = p.mirror ? await mirror(session, id, tube, services) : false;
      return { tube_id: id, ...summarize(tube), mirrored };
    },
  }),

  "tube.unload": method({
    summary: "Forgets a tube. Runners made from it keep running until deinitialized.",
    params: z.object({ tube_id: Id }),
    result: z.object({ tube_id: z.string(), unloaded: z.boolean() }),
    handler(p, { session }) {
      session.tube(p.tube_id);
      session.tubes.delete(p.tube_id);
      return { tube_id: p.tube_id, unloaded: true };
    },
  }),

  "runner.init": method({
    summary: "Makes a runner over a loaded tube and initializes its nodes.",
    params: z.object({
      tube_id: Id,
      runner: z.enum(RUNNER_KINDS).default("local"),
      options: Record_.default({}).describe("runner options, passed to the runner kind"),
      track: TrackParam.optional().describe("track this runner in a new run of this project: its per-epoch figures and the nodes' ctx.log; finished with the runner"),
    }),
    result: RunnerStatus,
    async handler(p, { session, services, runUuid }) {
      // A run to track into: a new one (`track`), or the client's active run (`run_uuid`) when the store knows it.
      let track: { uuid: string; owned: boolean } | undefined;
      if (p.track) {
        const tracker = needTracker(services);
        const t = p.track;
        const r = await tracking(() => tracker.start({ namespace: t.namespace ?? DEFAULT_NAMESPACE, project: t.project, name: t.name, description: t.description ?? `JSON-RPC runner of tube ${p.tube_id}`, owner: Tracker.self() }));
        track = { uuid: r.uuid, owned: true };
      } else if (runUuid && services.tracker && (await services.tracker.store.getTrackedRun(runUuid))) {
        track = { uuid: runUuid, owned: false };
      }
      const loaded = session.tube(p.tube_id);
      const tube = await tubeForRunner(p.runner, loaded, { url: services.relayUrl(), token: session.relayToken });
      const runner = await createRunner(p.runner, tube, p.options);
      const id = `runner-${randomUUID().slice(0, 13)}`;
      const entry = new RunnerEntry(id, p.tube_id, p.runner, runner, (r, e) => session.onRunnerEvent(r, e), (r, e) => session.onRunnerError(r, e));
      entry.noteRun(runUuid);
      if (track) entry.tracking = new RunnerTracking(services.tracker!, track.uuid, track.owned, runner, services.log);
      try {
        await runner.init();
      } catch (err) {
        entry.tracking?.noteCrash();
        await entry.deinit().catch(() => undefined);
        throw err;
      }
      if (session.isDisposed) {
        await entry.deinit().catch(() => undefined);
        throw new RpcError(RpcCodes.NOT_FOUND, "the session closed while the runner was starting");
      }
      session.runners.set(id, entry);
      return entry.status();
    },
  }),

  "runner.process": method({
    summary: "Runs one epoch with a process-scoped input; returns the epoch and the return node's value.",
    params: z.object({ runner_id: Id, input: Record_.default({}) }),
    result: ProcessResult,
    handler(p, { session, runUuid }) {
      const entry = session.runner(p.runner_id);
      entry.noteRun(runUuid);
      return entry.process(p.input).catch((err: unknown) => {
        entry.tracking?.noteCrash();
        throw err;
      });
    },
  }),

  "runner.run": method({
    summary: "Free-runs n epochs and returns the result of each epoch that had one; heartbeats keep the call alive.",
    params: z.object({ runner_id: Id, n: z.number().int().positive().max(MAX_RUN_EPOCHS) }),
    result: RunResult,
    handler(p, { session, runUuid }) {
      const entry = session.runner(p.runner_id);
      entry.noteRun(runUuid);
      return entry.run(p.n).catch((err: unknown) => {
        entry.tracking?.noteCrash();
        throw err;
      });
    },
  }),

  run_function: method({
    summary:
      "The long call under the reference client's name (it keeps run_function alive on heartbeats): with `input`, runner.process; with `n`, runner.run.",
    description:
      "The reference client resets a call's timeout on `heartbeat` notifications only for run_function, run_step, run_backward and run_optimizer_tgd; a long epoch called as run_function survives a timeout shorter than the epoch.",
    params: z
      .object({
        runner_id: Id,
        input: Record_.optional().describe("one epoch with this process-scoped input (as runner.process)"),
        n: z.number().int().positive().max(MAX_RUN_EPOCHS).optional().describe("n epochs of free-run (as runner.run)"),
      })
      .refine((p) => p.input === undefined || p.n === undefined, { message: "give input (one epoch) or n (epochs), not both", path: ["n"] }),
    result: z.union([ProcessResult, RunResult]),
    handler(p, { session, runUuid }) {
      const entry = session.runner(p.runner_id);
      entry.noteRun(runUuid);
      return p.n !== undefined ? entry.run(p.n) : entry.process(p.input ?? {});
    },
  }),

  "runner.start": method({
    summary: "Starts free-run: n epochs, or until runner.stop.",
    params: z.object({ runner_id: Id, n: z.number().int().positive().optional() }),
    result: RunnerStatus,
    async handler(p, { session, runUuid }) {
      const entry = session.runner(p.runner_id);
      entry.noteRun(runUuid);
      await entry.runner.start(p.n);
      return entry.status();
    },
  }),

  "runner.stop": method({
    summary: "Stops free-run after the epochs in flight; the nodes stay initialized.",
    params: z.object({ runner_id: Id }),
    result: RunnerStatus,
    async handler(p, { session }) {
      const entry = session.runner(p.runner_id);
      await entry.runner.stop();
      return entry.status();
    },
  }),

  "runner.status": method({
    summary: "The runner's state and epoch count.",
    params: z.object({ runner_id: Id }),
    result: RunnerStatus,
    handler(p, { session }) {
      return session.runner(p.runner_id).status();
    },
  }),

  "runner.deinit": method({
    summary: "Releases the runner's nodes; the runner id is gone afterwards.",
    params: z.object({ runner_id: Id }),
    result: RunnerStatus,
    async handler(p, { session }) {
      const entry = session.runner(p.runner_id);
      session.runners.delete(p.runner_id);
      for (const sub of entry.subscriptions.keys()) {
        session.events.drop(sub);
        session.variables.drop(sub);
      }
      await entry.deinit();
      return entry.status();
    },
  }),

  "events.subscribe": method({
    summary: "Subscribes to a runner's events, optionally only some nodes' and signals'; they arrive as batched `event` notifications, or as the client's variables.",
    description:
      'With `as: "variables"` each subscribed signal is mirrored as a variable of the client (for clients with a variable registry and no `event` handler, as the reference client): create_variable once, `variable_id` `<tube_id>/<node>.<signal>`, `data` the first value; then update_variable `{ variable_id, field: "data", value }`, at most one call per variable per `interval_ms`, the last value always delivered.',
    params: z.object({
      runner_id: Id,
      nodes: z.array(z.string()).optional(),
      signals: z.array(z.string()).optional(),
      as: z.enum(["events", "variables"]).default("events").describe("event notifications, or the client's variables"),
      interval_ms: z.number().int().min(10).max(3_600_000).default(100).describe('as "variables": at most one call per variable per interval'),
    }),
    result: z.object({ subscription_id: z.string() }),
    handler(p, { session }) {
      const entry = session.runner(p.runner_id);
      const id = `sub-${randomUUID().slice(0, 13)}`;
      entry.subscriptions.set(id, {
        id,
        runnerId: entry.id,
        nodes: p.nodes ? new Set(p.nodes) : undefined,
        signals: p.signals ? new Set(p.signals) : undefined,
        as: p.as,
        tubeId: entry.tubeId,
        intervalMs: p.interval_ms,
      });
      return { subscription_id: id };
    },
  }),

  "events.unsubscribe": method({
    summary: "Ends a subscription.",
    params: z.object({ subscription_id: Id, runner_id: Id.optional() }),
    result: z.object({ subscription_id: z.string(), unsubscribed: z.boolean() }),
    handler(p, { session }) {
      const entries = p.runner_id ? [session.runner(p.runner_id)] : [...session.runners.values()];
      let found = false;
      for (const e of entries) found = e.subscriptions.delete(p.subscription_id) || found;
      session.events.drop(p.subscription_id);
      session.variables.drop(p.subscription_id);
      if (!found) throw new RpcError(RpcCodes.NOT_FOUND, `no subscription "${p.subscription_id}" in this session`, { subscription_id: p.subscription_id });
      return { subscription_id: p.subscription_id, unsubscribed: true };
    },
  }),

  "tracking.runs.create": method({
    summary: "Creates a tracked run (RUNNING) in a project, made when missing; its uuid is what later calls carry as run_uuid.",
    params: TrackParam,
    result: TrackedRunResult,
    async handler(p, { services }) {
      const tracker = needTracker(services);
      const r = await tracking(() => tracker.start({ namespace: p.namespace ?? DEFAULT_NAMESPACE, project: p.project, name: p.name, description: p.description }));
      return trackedView(tracker, r.uuid);
    },
  }),

  "tracking.runs.get": method({
    summary: "One tracked run: `uuid`, or the run_uuid the call carries.",
    params: z.object({ uuid: z.string().min(1).optional() }),
    result: TrackedRunResult,
    async handler(p, { services, runUuid }) {
      const tracker = needTracker(services);
      const uuid = p.uuid ?? runUuid;
      if (!uuid) throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params: give uuid, or carry run_uuid", { issues: [{ path: ["uuid"], code: "invalid_type", message: "required" }] });
      return tracking(() => trackedView(tracker, uuid));
    },
  }),

  "tracking.runs.list": method({
    summary: "The tracked runs of a project (by display name or slug), newest first.",
    params: z.object({ project: z.string().min(1), namespace: z.string().min(1).optional() }),
    result: z.object({ runs: z.array(TrackedRunResult) }),
    async handler(p, { services }) {
      const tracker = needTracker(services);
      return tracking(async () => {
        const ns = p.namespace ?? DEFAULT_NAMESPACE;
        const project = (await tracker.store.getProject(ns, p.project)) ?? (await tracker.project(ns, slugify(p.project)));
        const runs = await tracker.store.listTrackedRuns({ projectUuid: project.uuid });
        return { runs: await Promise.all(runs.map((r) => trackedView(tracker, r.uuid))) };
      });
    },
  }),

  "tracking.log": method({
    summary: "Logs a metric into the run the call carries as run_uuid (or `uuid`); step defaults to the next of that name.",
    params: z.object({ uuid: z.string().min(1).optional(), name: z.string().min(1), value: z.json(), step: z.number().int().nonnegative().optional() }),
    result: z.object({ logged: z.boolean() }),
    async handler(p, { services, runUuid }) {
      const tracker = needTracker(services);
      const uuid = p.uuid ?? runUuid;
      if (!uuid) throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params: give uuid, or carry run_uuid", { issues: [{ path: ["uuid"], code: "invalid_type", message: "required" }] });
      await tracking(() => tracker.log(uuid, [{ name: p.name, value: p.value, step: p.step }]));
      return { logged: true };
    },
  }),

  "tracking.finish": method({
    summary: "Finishes the run the call carries as run_uuid (or `uuid`): COMPLETED unless a status is given.",
    params: z.object({ uuid: z.string().min(1).optional(), status: z.enum(["COMPLETED", "CRASHED", "FAILED", "RUNNING"]).default("COMPLETED") }),
    result: TrackedRunResult,
    async handler(p, { services, runUuid }) {
      const tracker = needTracker(services);
      const uuid = p.uuid ?? runUuid;
      if (!uuid) throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params: give uuid, or carry run_uuid", { issues: [{ path: ["uuid"], code: "invalid_type", message: "required" }] });
      await tracking(() => tracker.setStatus(uuid, p.status));
      return tracking(() => trackedView(tracker, uuid));
    },
  }),

  "callables.register": method({
    summary: "Declares the callables this client serves to `rpc` nodes (run_callable); returns all it serves.",
    params: z.object({ names: z.array(z.string().min(1)).min(1) }),
    result: z.object({ names: z.array(z.string()) }),
    handler(p, { session }) {
      for (const n of p.names) session.callables.add(n);
      return { names: [...session.callables] };
    },
  }),

  "callables.unregister": method({
    summary: "Withdraws callables; rpc nodes naming them fail from then on.",
    params: z.object({ names: z.array(z.string().min(1)).min(1) }),
    result: z.object({ names: z.array(z.string()) }),
    handler(p, { session }) {
      for (const n of p.names) session.callables.delete(n);
      return { names: [...session.callables] };
    },
  }),

  "session.info": method({
    summary: "This session's id, tubes, runners and callables.",
    params: z.object({}),
    result: z.object({ session_id: z.string(), tubes: z.array(z.string()), runners: z.array(RunnerStatus), callables: z.array(z.string()) }),
    handler(_p, { session }) {
      return {
        session_id: session.id,
        tubes: [...session.tubes.keys()],
        runners: [...session.runners.values()].map((r) => r.status()),
        callables: [...session.callables],
      };
    },
  }),

  "rpc.discover": method({
    summary: "This API as an OpenRPC document.",
    params: z.object({}),
    result: z.object({ openrpc: z.string() }).loose(),
    relay: true,
    handler(_p, { services }) {
      return services.discover();
    },
  }),

  "callables.invoke": method({
    summary: "Relay connections only: runs a callable of the relay's session in its client (how rpc nodes in node runner processes reach it).",
    params: z.object({
      callable: z.string().min(1),
      args: z.array(z.unknown()).default([]),
      kwargs: Record_.default({}),
      timeout: z.number().positive().optional().describe("seconds"),
    }),
    result: z.unknown(),
    relay: true,
    async handler(p, { session }) {
      try {
        return await session.invokeCallable(p.callable, p.args, p.kwargs, (p.timeout ?? 300) * 1000);
      } catch (err) {
        if (err instanceof CallableError) {
          const reason = err.message.slice(`callable "${p.callable}": `.length);
          throw new RpcError(RpcCodes.RUNTIME_ERROR, err.message, { code: "TUBULAR_ERR_RPC", callable: p.callable, reason });
        }
        throw err;
      }
    },
  }),
} satisfies Record<string, MethodDef<any>>;

export type MethodName = keyof typeof methods;

/** Methods only relay connections may call; ordinary sessions do not see them. */
const RELAY_ONLY = new Set<string>(["callables.invoke"]);

/**
 * Compiles the table into a resolver for a peer: validates params, then runs
 * the handler with the session. `relay` connections see only relay methods.
 */
export function compileMethods(
  table: Record<string, MethodDef<any>>,
  ctx: { session: Session; services: BridgeServices; relay: boolean },
): (method: string) => Handler | undefined {
  const compiled = new Map<string, Handler>();
  for (const [name, def] of Object.entries(table)) {
    if (ctx.relay ? !def.relay : RELAY_ONLY.has(name)) continue;
    compiled.set(name, (params, call) => {
      if (Array.isArray(params)) {
        throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params: params are by name (an object)", { issues: [{ path: [], code: "invalid_type", message: "expected an object" }] });
      }
      const { run_uuid, ...own } = (params ?? {}) as Record<string, unknown>;
      const run = RunUuid.safeParse(run_uuid);
      if (!run.success) {
        const data = issuesData(run.error);
        for (const i of data.issues) i.path.unshift("run_uuid");
        throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params", data);
      }
      const parsed = def.params.safeParse(own);
      if (!parsed.success) throw new RpcError(RpcCodes.INVALID_PARAMS, "Invalid params", issuesData(parsed.error));
      return def.handler(parsed.data, { session: ctx.session, services: ctx.services, call, runUuid: run.data });
    });
  }
  return (method) => compiled.get(method);
}
