/**
 * The OpenRPC document served by `rpc.discover`, generated from the method
 * table's zod schemas (so the document and the validation never disagree),
 * once, at server start. The calls the server makes to the client, and its
 * notifications, are listed under `x-server-to-client`.
 */
import { createRequire } from "node:module";
import { z } from "zod";
import { RpcCodes } from "./jsonrpc.ts";
import { RunUuid, type MethodDef } from "./methods.ts";

function packageVersion(): string {
  try {
    // By the package's own name: the same from src/ and from the compiled dist/src/.
    const pkg = createRequire(import.meta.url)("tubular/package.json") as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

function schemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

function paramsOf(schema: z.ZodType): Array<Record<string, unknown>> {
  const json = schemaOf(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    required: required.has(name),
    ...(typeof s.description === "string" ? { description: s.description } : {}),
    schema: s,
  }));
}

/** Every method takes it (methods.ts takes it out before the method's own schema). */
const RUN_UUID_PARAM = { name: "run_uuid", required: false, description: RunUuid.description, schema: schemaOf(RunUuid) };

const serverToClient = [
  {
    name: "create_node",
    kind: "request",
    summary: "A node of a loaded tube, mirrored to the client; answer { message: \"Ok\" }.",
    params: { node_id: "<tube_id>/<node id>", name: "the node's type", tube_id: "the tube" },
  },
  {
    name: "create_edge",
    kind: "request",
    summary:
      "An edge, in the reference's backward-pass convention: from_node_id is the consuming node, to_node_id the producing node (null for a tube input), output_nr the producer's signal index; answer { message: \"Ok\" }.",
    params: { from_node_id: "string", to_node_id: "string | null", output_nr: "integer", slot: "string", signal: "string (node sources)", input: "string (input sources)" },
  },
  {
    name: "run_callable",
    kind: "request",
    summary: "Runs a callable the client registered, for an rpc node; answer { message: \"Ok\", data: <the node's output> }.",
    params: { callable_id: "string", args: "array", kwargs: "object (the node's inputs)" },
  },
  {
    name: "create_variable",
    kind: "request",
    summary: 'A subscribed signal (events.subscribe as "variables") as a variable of the client; answer { message: "Ok" }.',
    params: {
      variable_id: "<tube_id>/<node>.<signal>",
      obj_type: '"__variable__"',
      data: "the first value",
      role: "names the node and signal",
      requires_grad: "false",
      _retain_grad: "false",
      _grad: "[]",
      _output_nr: "0",
      _grad_fn: "null",
      is_leaf: "true",
    },
  },
  {
    name: "update_variable",
    kind: "request",
    summary: "A new value of a mirrored signal, at most one per variable per interval_ms, the last always delivered; answer { message: \"Ok\" }.",
    params: { variable_id: "string", field: '"data"', value: "the value" },
  },
  { name: "heartbeat", kind: "notification", summary: "The request `id` is still being worked on; reset its timeout.", params: { id: "request id" } },
  { name: "event", kind: "notification", summary: "A batch of a subscription's events.", params: { runner_id: "string", subscription_id: "string", events: "TubeEvent[]", dropped: "integer, when events were dropped for backpressure" } },
  { name: "runner.error", kind: "notification", summary: "A runner failed during free-run.", params: { runner_id: "string", error: "{ name, message, node_id? }" } },
];

export function openRpcDocument(table: Record<string, MethodDef<any>>): Record<string, unknown> {
  const methods = Object.entries(table).map(([name, def]) => ({
    name,
    summary: def.summary,
    ...(def.description ? { description: def.description } : {}),
    paramStructure: "by-name",
    params: [...paramsOf(def.params), RUN_UUID_PARAM],
    result: { name: "result", schema: schemaOf(def.result) },
  }));
  return {
    openrpc: "1.3.2",
    info: { title: "tubular bridge", version: packageVersion(), description: "JSON-RPC 2.0 over WebSocket at /ws/v0/rpc/; API key in the Authorization header (Api-Key <key> or Bearer <key>)." },
    servers: [{ name: "bridge", url: "ws://{host}:{port}/ws/v0/rpc/" }],
    methods,
    components: {
      errors: Object.fromEntries(Object.entries(RpcCodes).map(([name, code]) => [name, { code, message: name.toLowerCase().replace(/_/g, " ") }])),
    },
    "x-server-to-client": serverToClient,
  };
}
