/** Checks one epoch's process-scoped input before the epoch starts, so a bad input consumes no epoch. */
import { InputError } from "../errors.ts";
import { inputMatchesType } from "../spec/input-types.ts";
import type { Tube } from "./tube.ts";

export function resolveProcessInput(tube: Tube, given: Record<string, unknown> | undefined | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const input = given ?? {};
  // As noob: an input the graph does not declare for this scope is warned of and ignored.
  for (const name of Object.keys(input)) if (tube.inputs[name]?.scope !== "process") tube.warn?.(`process input "${name}" is not a process-scoped input of the graph; ignored`);
  for (const [name, decl] of Object.entries(tube.inputs)) {
    if (decl.scope !== "process") continue;
    const value = input[name] !== undefined ? input[name] : decl.default;
    if (value === undefined) {
      if (decl.required ?? decl.default === undefined) throw new InputError("TUBULAR_ERR_INPUT_MISSING", name, "required process input was not given");
      continue;
    }
    if (!inputMatchesType(value, decl.type)) throw new InputError("TUBULAR_ERR_INPUT_INVALID", name, `must be of type ${decl.type}, got ${JSON.stringify(value)}`);
    out[name] = value;
  }
  for (const name of Object.keys(input)) {
    if (tube.inputs[name]?.scope !== "process") throw new InputError("TUBULAR_ERR_INPUT_INVALID", name, "the graph declares no such process-scoped input");
  }
  return out;
}
