/**
 * DashboardFeed: turns watched runs into the dashboard's live messages.
 *
 * It reads only the public Runner interface: `error` events (kept per node,
 * as they happen), `epoch` events for runners that report no status, and
 * `status()` where the runner has it (ZmqRunner: hosts, runner processes,
 * epochs per node). Nothing is read while nobody watches: the sampling timer
 * runs only while a viewer is connected, once per `intervalMs` (rates are
 * per second, so sampling faster would show nothing new), plus once right
 * after an error so a failure shows at once. A `state` message goes out only
 * when it differs from the last one sent. The runtime's `event` stream is
 * not read: listening to it makes the command node receive every value
 * (ZmqRunner.on("event")), a cost a watched run must not pay.
 */
import { residentBytes } from "../../host/resident-memory.ts";
import type { Logger } from "pino";
import { NodeError } from "../../errors.ts";
import type { Tube } from "../../graph/tube.ts";
import { snapshot } from "../../host/resources.ts";
import type { EpochResult, Runner } from "../../runner/runner.ts";
import type { NodeMetricsReport } from "../../runner/node-metrics.ts";
import type { RunStatus } from "../../runner/zmq/zmq-runner.ts";
import { graphView } from "./graph-view.ts";
import { JobsFeed, type JobsSource } from "./jobs-feed.ts";
import { TrackingFeed, type MetricsViewer, type TrackingSource } from "./tracking-feed.ts";
import type { ErrorView, GraphView, HostState, NodeState, NodeStatusView, RunnerProcessState, RunState, ServerMessage } from "./messages.ts";

export interface WatchedRun {
  /** Unique among the runs a feed watches, stable for the run's life. */
  readonly id: string;
  readonly label: string;
  readonly kind: string;
  readonly tube: Tube;
  readonly runner: Runner;
  /** The API key holder (digest) that owns the run; viewers see only their own runs. Undefined: everyone's. */
  readonly owner?: string;
}

export type RunSource = () => Iterable<WatchedRun>;

export interface Viewer {
  /** The key holder's digest; undefined where the dashboard has no keys. */
  readonly principal: string | undefined;
  send(text: string): void;
  /** Bytes queued for this viewer; a slow viewer skips states until it has caught up. */
  buffered(): number;
}

export interface DashboardFeedOptions {
  runs: RunSource;
  /** Sampling period while someone watches. Default 1000 ms. */
  intervalMs?: number;
  log?: Logger;
  /** The job registry's store, for the jobs view (tubular serve). */
  jobs?: JobsSource;
  /** Run tracking's store, for the tracked runs and their metric plots. */
  tracking?: TrackingSource;
}

const MAX_BUFFERED = 1 << 20;

type WithStatus = Runner & { status(): RunStatus };
function hasStatus(r: Runner): r is WithStatus {
  return typeof (r as Partial<WithStatus>).status === "function";
}
/** LocalRunner: per-node figures measured in this process. */
type WithMetrics = Runner & { nodeMetrics(): Record<string, NodeMetricsReport> };
function hasMetrics(r: Runner): r is WithMetrics {
  return typeof (r as Partial<WithMetrics>).nodeMetrics === "function";
}
/** Key of one node's signal in the event counts. */
const sig = (node: string, signal: string) => `${node}\u0000${signal}`;
/** A signal whose runner has not reported for this long had no events (runners report only when counts move). */
const STALE_MS = 3000;

function errorView(err: Error): ErrorView {
  if (err instanceof NodeError) return { code: err.code, type: err.errorType, message: err.errorMessage, epoch: err.epoch ?? null, at: Date.now() };
  const code = (err as { code?: unknown }).code;
  return { code: typeof code === "string" ? code : "ERROR", type: err.name, message: err.message, epoch: (err as { epoch?: unknown }).epoch ?? null, at: Date.now() };
}

/** The runner id ZmqRunner.status() gives the nodes the driver process runs itself. */
const DRIVER_RUNNER = "command";

const STATE_TO_STATUS: Record<string, NodeStatusView> = {
  created: "stopped",
  initializing: "waiting",
  ready: "ready",
  running: "running",
  stopping: "running",
  closed: "closed",
  failed: "ready",
};

class Tracked {
  readonly errors = new Map<string, ErrorView>();
  /** Errors heard per node, for runners that count none themselves. */
  readonly errorsHeard = new Map<string, number>();
  lastError: ErrorView | undefined;
  graph: GraphView;
  /** Epochs seen through `epoch` events, for runners without status(). */
  epochs = 0;
  private prev: { t: number; total: number; nodes: Map<string, number> } | undefined;
  private rates: { total: number | null; nodes: Map<string, number | null> } = { total: null, nodes: new Map() };
  /** Per node signal: its event count at the last report that came, and the rate between the last two. */
  private readonly signals = new Map<string, { at: number; n: number; rate: number | null }>();
  private readonly detach: () => void;

  constructor(
    readonly run: WatchedRun,
    onError: () => void,
  ) {
    this.graph = graphView(run);
    const er = (err: Error) => {
      const view = errorView(err);
      this.lastError = view;
      if (err instanceof NodeError)
        for (const id of err.nodeId.split(",")) {
          this.errors.set(id, view);
          this.errorsHeard.set(id, (this.errorsHeard.get(id) ?? 0) + 1);
        }
      onError();
    };
    const ep = hasStatus(run.runner)
      ? undefined
      : (_: EpochResult) => {
          this.epochs++;
        };
    run.runner.on("error", er);
    if (ep) run.runner.on("epoch", ep);
    this.detach = () => {
      run.runner.off("error", er);
      if (ep) run.runner.off("epoch", ep);
    };
  }

  dispose(): void {
    this.detach();
  }

  /** Rates from the counts since the previous sample at least `minGapMs` ago. */
  private rate(now: number, total: number, nodes: Map<string, number>, minGapMs: number): void {
    const prev = this.prev;
    if (prev && now - prev.t < minGapMs) return;
    if (prev) {
      const dt = (now - prev.t) / 1000;
      const perNode = new Map<string, number | null>();
      for (const [id, n] of nodes) {
        const before = prev.nodes.get(id);
        perNode.set(id, before === undefined || n < before ? null : (n - before) / dt);
      }
      this.rates = { total: total >= prev.total ? (total - prev.total) / dt : null, nodes: perNode };
    }
    this.prev = { t: now, total, nodes };
  }

  /**
   * Events/s of one signal over the interval between the runner's last two
   * reports (received at `at`), not between samples: runner reports and feed
   * samples run on clocks of their own, and differences taken per sample
   * would swing between 0 and twice the rate.
   */
  private signalRate(key: string, at: number, n: number, now: number): number | null {
    const s = this.signals.get(key);
    if (!s) {
      this.signals.set(key, { at, n, rate: null });
      return null;
    }
    if (at > s.at) {
      // A count that went down started again (a restarted runner): no rate for that interval.
      s.rate = n >= s.n ? (n - s.n) / ((at - s.at) / 1000) : null;
      s.at = at;
      s.n = n;
    } else if (now - s.at > STALE_MS) {
      // Runners report only when their counts move: a long silence means no events.
      s.rate = 0;
    }
    return s.rate;
  }

  state(now: number, minGapMs: number): RunState {
    const runner = this.run.runner;
    const st = hasStatus(runner) ? runner.status() : undefined;
    const nodes: Record<string, NodeState> = {};
    const counts = new Map<string, number>();
    if (st) for (const [id, r] of Object.entries(st.nodes)) counts.set(id, r.epochs);
    const metrics: Record<string, (NodeMetricsReport & { receivedAt: number }) | undefined> = st
      ? Object.fromEntries(Object.entries(st.nodes).map(([id, r]) => [id, r.metrics]))
      : hasMetrics(runner)
        ? Object.fromEntries(Object.entries(runner.nodeMetrics()).map(([id, m]) => [id, { ...m, receivedAt: now }]))
        : {};
    const signalRates = new Map<string, number | null>();
    for (const [id, m] of Object.entries(metrics)) {
      if (!m) continue;
      const sigs = this.graph.nodes.find((n) => n.id === id)?.signals ?? [];
      // A signal with no event yet counts 0, so its first events show as a rate.
      for (const signal of new Set([...sigs, ...Object.keys(m.events)])) signalRates.set(sig(id, signal), this.signalRate(sig(id, signal), m.receivedAt, m.events[signal] ?? 0, now));
    }
    const total = st ? st.epochsCompleted : this.epochs;
    this.rate(now, total, counts, minGapMs);
    const runnerState = st?.state ?? runner.state;
    for (const n of this.graph.nodes) {
      if (n.kind !== "node") continue;
      const r = st?.nodes[n.id];
      const error = this.errors.get(n.id);
      let status: NodeStatusView = r ? (r.status === "unknown" ? "unknown" : r.status) : (STATE_TO_STATUS[runnerState] ?? "unknown");
      // A restarted runner reports "ready" (it never got "start") while the run's free-run goes on through it: it is running.
      if (status === "ready" && runnerState === "running") status = "running";
      // And a process still saying "running" after the free-run ended (stopped, or ended by an error) is ready.
      else if (status === "running" && runnerState !== "running" && runnerState !== "stopping") status = "ready";
      // A node's own failure stays visible; a runner that died and is back shows its status (its error stays in the panel).
      if (error && error.code !== "TUBULAR_ERR_RUNNER_DIED") status = "failed";
      else if (error && runnerState === "failed" && status !== "restarting") status = "failed";
      nodes[n.id] = {
        status,
        runner: r?.runner ?? null,
        host: r?.host ?? null,
        pid: r?.pid ?? null,
        restarts: r?.restarts ?? 0,
        // The runtime counts epochs per node only in runner processes, not for the nodes the driver runs itself (the return node).
        epochs: r && r.runner !== DRIVER_RUNNER ? r.epochs : null,
        epochsPerSec: r && r.runner !== DRIVER_RUNNER ? (this.rates.nodes.get(n.id) ?? null) : null,
        p50Ms: metrics[n.id]?.p50Ms ?? null,
        p99Ms: metrics[n.id]?.p99Ms ?? null,
        errors: metrics[n.id]?.errors ?? this.errorsHeard.get(n.id) ?? 0,
        ...(error ? { error } : {}),
      };
    }
    const edges: Record<string, number | null> = {};
    // Every event on a signal goes down every edge from it: an edge's rate is its signal's. Tube inputs are not counted.
    for (const e of this.graph.edges) edges[e.id] = signalRates.get(sig(e.from, e.signal)) ?? null;
    const hosts: HostState[] = [];
    const here = snapshot([]);
    // rssBytes: a runner on another machine has it from its host agent's report; one on this machine is read here.
    const processes = new Map<string, { host: string; pid: number | null; nodes: string[]; status: NodeStatusView; restarts: number; rssBytes?: number | null }>();
    if (st) {
      for (const [id, r] of Object.entries(st.nodes)) {
        const p = processes.get(r.runner) ?? { host: r.host, pid: r.pid, nodes: [], status: r.status === "unknown" ? "unknown" : r.status, restarts: r.restarts, rssBytes: r.rss_bytes };
        p.nodes.push(id);
        processes.set(r.runner, p);
      }
    } else {
      processes.set("this process", { host: "driver", pid: process.pid, nodes: this.graph.nodes.filter((n) => n.kind === "node").map((n) => n.id), status: STATE_TO_STATUS[runnerState] ?? "unknown", restarts: 0 });
    }
    const onDriver = [...processes.values()].filter((p) => p.host === "driver").length;
    hosts.push({ name: "driver", labels: [], cpus: here.cpus, memoryTotal: here.memory_total, memoryFree: here.memory_free, load: here.load, alive: true, runners: onDriver });
    if (st) {
      for (const [name, h] of Object.entries(st.hosts)) {
        hosts.push({ name, labels: h.labels, cpus: h.resources.cpus, memoryTotal: h.resources.memory_total, memoryFree: h.resources.memory_free, load: h.resources.load, alive: h.alive, runners: h.runners });
      }
    }
    const runners: RunnerProcessState[] = [...processes].map(([id, p]) => ({ id, ...p, rssBytes: p.host === "driver" ? residentBytes(p.pid) : (p.rssBytes ?? null) }));
    return {
      runId: this.run.id,
      state: runnerState,
      epochsCompleted: total,
      epochsPerSec: this.rates.total,
      nodes,
      edges,
      hosts,
      runners,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}

export class DashboardFeed {
  private readonly source: RunSource;
  private readonly intervalMs: number;
  private readonly log: Logger | undefined;
  private readonly tracked = new Map<string, Tracked>();
  private readonly viewers = new Set<Viewer>();
  /** Last text sent, per principal, so an unchanged state is not sent again. */
  private readonly lastSent = new Map<string | undefined, { graphs: string; state: string }>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly jobs: JobsFeed | undefined;
  /** Viewers that have not had the jobs part yet. */
  private readonly jobsFresh = new Set<Viewer>();
  private readonly tracking: TrackingFeed | undefined;
  /** Viewers that have not had the tracked runs yet. */
  private readonly trackingFresh = new Set<Viewer>();
  /** The tracked runs each viewer plots. */
  private readonly plots = new Map<Viewer, MetricsViewer & { chosen: Set<string> }>();

  constructor(options: DashboardFeedOptions) {
    this.source = options.runs;
    this.jobs = options.jobs ? new JobsFeed(options.jobs, options.log) : undefined;
    this.tracking = options.tracking ? new TrackingFeed(options.tracking, options.log) : undefined;
    this.intervalMs = options.intervalMs ?? 1000;
    this.log = options.log;
  }

  /** Whether the feed shows the job registry. */
  get hasJobs(): boolean {
    return this.jobs !== undefined;
  }

  /** Whether the feed shows run tracking. */
  get hasTracking(): boolean {
    return this.tracking !== undefined;
  }

  /** The tracked runs `viewer` plots from now on: those it had not chosen before come whole, at once. */
  choose(viewer: Viewer, runIds: readonly string[]): void {
    const p = this.plots.get(viewer);
    if (!p || !this.tracking) return;
    const next = new Set(runIds);
    for (const id of next) if (!p.chosen.has(id)) p.newly.add(id);
    p.chosen.clear();
    for (const id of next) p.chosen.add(id);
    for (const id of p.newly) if (!next.has(id)) p.newly.delete(id);
    if (p.newly.size > 0) this.sampleSoon();
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Starts tracking runs now (errors are kept from here on) without anyone watching. */
  sync(): void {
    const seen = new Set<string>();
    for (const run of this.source()) {
      seen.add(run.id);
      if (!this.tracked.has(run.id)) this.tracked.set(run.id, new Tracked(run, () => this.sampleSoon()));
    }
    for (const [id, t] of this.tracked) {
      if (seen.has(id)) continue;
      t.dispose();
      this.tracked.delete(id);
    }
  }

  /** Adds a viewer: it gets the graphs and the state at once, then every change. Returns its removal. */
  addViewer(viewer: Viewer): () => void {
    if (this.closed) throw new Error("the dashboard feed is closed");
    this.viewers.add(viewer);
    if (this.jobs) this.jobsFresh.add(viewer);
    if (this.tracking) {
      this.trackingFresh.add(viewer);
      this.plots.set(viewer, { chosen: new Set(), newly: new Set(), send: (text) => this.viewers.has(viewer) && viewer.send(text) });
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.sample(), this.intervalMs);
      this.timer.unref();
    }
    this.sample(viewer);
    return () => {
      this.viewers.delete(viewer);
      this.jobsFresh.delete(viewer);
      this.trackingFresh.delete(viewer);
      this.plots.delete(viewer);
      if (this.viewers.size === 0) this.stopTimers();
    };
  }

  private stopTimers(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
  }

  private sampleSoon(): void {
    if (this.viewers.size === 0 || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.sample();
    }, 20);
    this.soon.unref();
  }

  /** Reads every run once and sends what changed; `fresh` gets everything regardless. */
  private sample(fresh?: Viewer): void {
    try {
      this.sync();
      const now = Date.now();
      const states = new Map<string, RunState>();
      for (const [id, t] of this.tracked) states.set(id, t.state(now, this.intervalMs / 2));
      const byPrincipal = new Map<string | undefined, Viewer[]>();
      for (const v of this.viewers) byPrincipal.set(v.principal, [...(byPrincipal.get(v.principal) ?? []), v]);
      for (const [principal, viewers] of byPrincipal) {
        const mine = [...this.tracked.values()].filter((t) => t.run.owner === undefined || t.run.owner === principal);
        const graphs = JSON.stringify({ type: "graphs", graphs: mine.map((t) => t.graph) } satisfies ServerMessage);
        const runs = mine.map((t) => states.get(t.run.id)!);
        const stateBody = JSON.stringify(runs);
        const last = this.lastSent.get(principal);
        const state = JSON.stringify({ type: "state", at: now, runs } satisfies ServerMessage);
        for (const v of viewers) {
          const isFresh = v === fresh;
          if (isFresh || last?.graphs !== graphs) v.send(graphs);
          if ((isFresh || last?.state !== stateBody) && (isFresh || v.buffered() < MAX_BUFFERED)) v.send(state);
        }
        this.lastSent.set(principal, { graphs, state: stateBody });
      }
      if (this.jobs) {
        // Registry runs belong to no session: every viewer with a key sees them, as the registry's HTTP API shows them to every key.
        const fresh = [...this.jobsFresh];
        this.jobsFresh.clear();
        const settled = [...this.viewers].filter((v) => !fresh.includes(v));
        void this.jobs.sample(
          (text) => {
            for (const v of settled) if (this.viewers.has(v) && v.buffered() < MAX_BUFFERED) v.send(text);
          },
          fresh.map((v) => (text: string) => {
            if (this.viewers.has(v)) v.send(text);
          }),
        ).then((done) => {
          if (!done) for (const v of fresh) if (this.viewers.has(v)) this.jobsFresh.add(v);
        });
      }
      if (this.tracking) {
        const fresh = [...this.trackingFresh];
        this.trackingFresh.clear();
        const settled = [...this.viewers].filter((v) => !fresh.includes(v));
        void this.tracking
          .sample(
            (text) => {
              for (const v of settled) if (this.viewers.has(v) && v.buffered() < MAX_BUFFERED) v.send(text);
            },
            fresh.map((v) => (text: string) => {
              if (this.viewers.has(v)) v.send(text);
            }),
            [...this.plots.values()],
          )
          .then((done) => {
            if (!done) for (const v of fresh) if (this.viewers.has(v)) this.trackingFresh.add(v);
          });
      }
    } catch (err) {
      this.log?.warn({ err }, "dashboard sample failed");
    }
  }

  close(): void {
    this.closed = true;
    this.stopTimers();
    this.viewers.clear();
    this.plots.clear();
    for (const t of this.tracked.values()) t.dispose();
    this.tracked.clear();
  }
}
