/** A run tracking request refused: 400 (bad body) or 404 (no such project or run). */
import { TubularError } from "../../errors.ts";

export class TrackingError extends TubularError {
  readonly status: 400 | 404;

  private constructor(status: 400 | 404, message: string, field?: string) {
    super(status === 400 ? "TUBULAR_ERR_TRACKING_BAD_REQUEST" : "TUBULAR_ERR_TRACKING_NOT_FOUND", message, field ? { path: field } : {});
    this.name = "TrackingError";
    this.status = status;
  }

  static badRequest(message: string, field?: string): TrackingError {
    return new TrackingError(400, message, field);
  }

  static notFound(message: string): TrackingError {
    return new TrackingError(404, message);
  }
}
