/** The transport layer: addresses, send queue, CurveZMQ keys and ZAP, the subscription probe, liveness. */
export * from "./address.ts";
export * from "./curve.ts";
export * from "./heartbeat.ts";
export * from "./send-queue.ts";
export * from "./subscription-probe.ts";
export * from "./zap.ts";
