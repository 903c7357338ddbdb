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

export const InputType = z.enum(["number", "integer", "string", "boolean", "object", "array", "any"]);

export const InputSpec = z
  .object({
    scope: z.enum(["tube", "process"]),
    type: InputType.default("any"),
    default: z.unknown().optional(),
    required: z.boolean().optional().describe("default: true when there is no default"),
    description: z.string().optional(),
  })
  .strict();

export const TubeSpec = z
  .object({
    noob_id: z.string().optional(),
    id: z.string().optional(),
    noob_version: z.string().optional(),
    description: z.string().optional(),
    extends: z.union([z.string(), z.array(z.string())]).optional(),
    input: z.record(NodeId, InputSpec).optional(),
    nodes: z.record(NodeId, NodeSpec),
    assets: z.record(z.string(), z.unknown()).optional().describe("reserved for shared resources; not used yet"),
  })
  .strict();

export type NodeSpec = z.infer<typeof NodeSpec>;
export type InputSpec = z.infer<typeof InputSpec>;
export type TubeSpec = z.infer<typeof TubeSpec>;
export type Depends = z.infer<typeof Depends>;

/** The JSON Schema of the graph file format. */
export function tubeJsonSchema(): Record<string, unknown> {
  return { $id: "https://tubular.dev/schema/tube.json", title: "tubular graph (tube) file", ...z.toJSONSchema(TubeSpec, { io: "input" }) };
}
