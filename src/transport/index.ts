/** The transport layer: addresses, socket roles, send queue, CurveZMQ keys and ZAP, liveness. */
export * from "./address.ts";
export * from "./curve.ts";
export * from "./heartbeat.ts";
export * from "./send-queue.ts";
export * from "./sockets.ts";
export * from "./zap.ts";
