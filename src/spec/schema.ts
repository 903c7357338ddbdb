/**
 * The graph (tube) file format, as zod schemas. The JSON Schema printed by
 * `tubular schema` is generated from these, so the two never disagree.
 */
import { z } from "zod";

/** Node ids appear in "node.signal" references and in sub-epoch keys ("3/b.0"), so "." and "/" are kept out. */
export const NodeId = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "a node id is a letter or _ followed by letters, digits, _ or -");

/** "node.signal" or "input.name". */
export const Reference = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/, 'a reference is written "node.signal" or "input.name"');

export const DependsItem = z.union([
  Reference,
  z.record(z.string(), Reference).refine((r) => Object.keys(r).length === 1, "a named dependency is one { slot: node.signal } pair"),
]);

export const Depends = z.union([Reference, z.array(DependsItem)]);

export const RestartPolicy = z.enum(["never", "on-failure", "always"]);

export const NodeSpec = z
  .object({
    type: z.string().min(1).describe('a built-in type, "./module.ts#export" relative to the graph file, or "package#export"'),
    depends: Depends.optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    enabled: z.union([z.boolean(), Reference]).optional().describe('false, or "input.name" of a tube input, disables the node'),
    stateful: z.boolean().optional().describe("overrides the node type's own statefulness"),
    group: z.string().min(1).optional().describe("nodes of one group run in one process"),
    isolate: z.boolean().optional().describe("true: this node runs in a process of its own (by default the runtime packs nodes into processes)"),
    host: z.string().min(1).optional().describe("the host agent this node must run on"),
    labels: z.array(z.string()).optional().describe("a host carrying all these labels may run this node"),
    restart: RestartPolicy.optional(),
    max_restarts: z.number().int().nonnegative().optional(),
    description: z.string().optional(),
  })
  .strict();

/**
 * tubular's own type names, and noob's Python names for the same checks
 * (see src/spec/input-types.ts). Any other dotted Python name (e.g.
 * "numpy.ndarray") is accepted and not checked, as noob does not check it.
 */
export const InputType = z.string().min(1).describe('number, integer, string, boolean, object, array, any; or noob\'s int, float, str, bool, list, dict, pathlib.Path, typing.Any');

export const InputSpec = z
  .object({
    scope: z.enum(["tube", "process"]).default("tube").describe("default: tube, as in noob"),
    type: InputType.default("any"),
    default: z.unknown().optional(),
    required: z.boolean().optional().describe("default: true when there is no default"),
    description: z.string().optional(),
  })
  .strict();

export const AssetScope = z.enum(["runner", "process", "node"]);

export const AssetSpec = z
  .object({
    type: z.string().min(1).describe('"./module.ts#export" relative to the graph file, "package#export", or a name the node-type map maps'),
    scope: AssetScope.describe("runner: one for the runner's life; process: one per epoch; node: one per node call"),
    params: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish(),
    depends: Reference.optional().describe('"node.signal" whose value becomes the asset in the next epoch (runner scope only)'),
    description: z.string().optional(),
  })
  .strict()
  .refine((a) => a.depends === undefined || a.scope === "runner", { message: "depends is allowed on runner-scoped assets only", path: ["depends"] });

export const TubeSpec = z
  .object({
    noob_id: z.string().optional(),
    id: z.string().optional(),
    noob_version: z.string().optional(),
    noob_model: z.string().optional().describe("written by noob; accepted and not used"),
    description: z.string().optional(),
    extends: z.union([z.string(), z.array(z.string())]).optional(),
    input: z.record(NodeId, InputSpec).optional(),
    nodes: z.record(NodeId, NodeSpec),
    assets: z.record(NodeId, AssetSpec).optional().describe("shared resources, injected with assets.NAME"),
  })
  .strict();

export type NodeSpec = z.infer<typeof NodeSpec>;
export type InputSpec = z.infer<typeof InputSpec>;
export type TubeSpec = z.infer<typeof TubeSpec>;
export type Depends = z.infer<typeof Depends>;
export type AssetSpec = z.infer<typeof AssetSpec>;
export type AssetScope = z.infer<typeof AssetScope>;

/** The JSON Schema of the graph file format. */
export function tubeJsonSchema(): Record<string, unknown> {
  return { $id: "https://tubular.dev/schema/tube.json", title: "tubular graph (tube) file", ...z.toJSONSchema(TubeSpec, { io: "input" }) };
}
