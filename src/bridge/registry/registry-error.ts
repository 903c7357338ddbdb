/**
 * A refused job registry request: the HTTP status it answers with, the
 * stable code, and (for bad bodies) the zod issue paths.
 */
import { TubularError } from "../../errors.ts";

export interface Issue {
  path: string;
  message: string;
}

export class RegistryError extends TubularError {
  readonly status: number;
  readonly issues: Issue[];

  constructor(status: 400 | 404, message: string, issues: Issue[] = []) {
    super(status === 404 ? "TUBULAR_ERR_REGISTRY_NOT_FOUND" : "TUBULAR_ERR_REGISTRY_BAD_REQUEST", message, issues.length ? { issues } : {});
    this.name = "RegistryError";
    this.status = status;
    this.issues = issues;
  }
}

export const badRequest = (message: string, issues: Issue[] = []) => new RegistryError(400, message, issues);
export const notFound = (message: string) => new RegistryError(404, message);
