/**
 * The value types an input may declare, and the check of a value against one.
 * noob's Python names map to the same checks, so its files load unchanged;
 * a name neither knows (e.g. "numpy.ndarray") is not checked, as in noob.
 */
const ALIASES: Readonly<Record<string, string>> = {
  int: "integer",
  float: "number",
  str: "string",
  bool: "boolean",
  list: "array",
  tuple: "array",
  dict: "object",
  "pathlib.Path": "string",
  "typing.Any": "any",
  Any: "any",
};

/** The tubular type name a declared type checks as. */
export function canonicalInputType(type: string): string {
  return ALIASES[type] ?? type;
}

export function inputMatchesType(value: unknown, type: string): boolean {
  switch (canonicalInputType(type)) {
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return Number.isInteger(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default:
      return true;
  }
}
