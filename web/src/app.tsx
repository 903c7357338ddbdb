/** The dashboard: login when a key is needed, else the runs, each as graph or hosts & runners. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { GraphView, JobEventView, JobRunView, MetricPoint, RunState, ServerMessage, TrackedRunView } from "../../src/bridge/dashboard/messages.ts";
import { Connection, storedKey, type LinkState } from "./connection.ts";
import { rate, time } from "./format.ts";
import { Graph } from "./graph.tsx";
import { Hosts } from "./hosts.tsx";
import { Jobs } from "./jobs.tsx";
import { Login } from "./login.tsx";
import { NodePanel } from "./node-panel.tsx";
import { Tracking } from "./tracking.tsx";

type Tab = "graph" | "hosts";

export function App() {
  const [link, setLink] = useState<LinkState>("connecting");
  const [graphs, setGraphs] = useState<readonly GraphView[]>([]);
  const [states, setStates] = useState<{ at: number; runs: Map<string, RunState> }>({ at: 0, runs: new Map() });
  const [runId, setRunId] = useState<string | undefined>();
  const [nodeId, setNodeId] = useState<string | undefined>();
  const [tab, setTab] = useState<Tab>("graph");
  const [view, setView] = useState<"runs" | "jobs" | "metrics">("runs");
  const [hasJobs, setHasJobs] = useState(false);
  const [hasTracking, setHasTracking] = useState(false);
  const [tracked, setTracked] = useState<readonly TrackedRunView[]>([]);
  const [chosen, setChosen] = useState<string[]>([]);
  const chosenRef = useRef<string[]>([]);
  const [points, setPoints] = useState<ReadonlyMap<string, readonly MetricPoint[]>>(new Map());
  const [jobRuns, setJobRuns] = useState<readonly JobRunView[]>([]);
  const [jobEvents, setJobEvents] = useState<ReadonlyMap<string, readonly JobEventView[]>>(new Map());
  const [jobId, setJobId] = useState<string | undefined>();

  const conn = useMemo(
    () =>
      new Connection({
        onLink: setLink,
        onMessage: (m: ServerMessage) => {
          if (m.type === "hello") {
            setHasJobs(m.jobs);
            setHasTracking(m.tracking);
          } else if (m.type === "jobs") setJobRuns(m.runs);
          else if (m.type === "tracked") {
            setTracked(m.runs);
            // The feed is up (after the key): the runs plotted before a reconnect are asked for again, whole.
            if (chosenRef.current.length > 0) conn.send({ type: "chooseRuns", runs: chosenRef.current });
          } else if (m.type === "metrics")
            setPoints((old) => {
              const next = new Map(old);
              next.set(m.runId, m.reset ? m.points : [...(old.get(m.runId) ?? []), ...m.points]);
              return next;
            });
          else if (m.type === "jobEvents")
            setJobEvents((old) => {
              const next = new Map(old);
              const first = m.events[0]?.id ?? Infinity;
              next.set(m.runId, [...(old.get(m.runId) ?? []).filter((e) => e.id < first), ...m.events]);
              return next;
            });
          else if (m.type === "graphs") setGraphs(m.graphs);
          else if (m.type === "state") setStates({ at: m.at, runs: new Map(m.runs.map((r) => [r.runId, r])) });
        },
      }),
    [],
  );
  const choose = (ids: string[]) => {
    chosenRef.current = ids;
    setChosen(ids);
    setPoints((old) => new Map([...old].filter(([id]) => ids.includes(id))));
    conn.send({ type: "chooseRuns", runs: ids });
  };
  useEffect(() => {
    conn.open();
    return () => conn.close();
  }, [conn]);

  if (link === "need-key" || link === "refused") {
    return (
      <Login
        refused={link === "refused"}
        onKey={(key) => {
          storedKey.set(key);
          conn.open();
        }}
      />
    );
  }

  const run = graphs.find((g) => g.runId === runId) ?? graphs[0];
  const state = run ? states.runs.get(run.runId) : undefined;
  const node = run?.nodes.find((n) => n.id === nodeId && n.kind === "node");
  return (
    <div class="app">
      <header class="top">
        <h1>tubular</h1>
        {hasJobs || hasTracking ? (
          <nav class="views">
            <button class={view === "runs" ? "active" : ""} onClick={() => setView("runs")} data-testid="view-runs">
              Graphs
            </button>
            {hasJobs ? (
              <button class={view === "jobs" ? "active" : ""} onClick={() => setView("jobs")} data-testid="view-jobs">
                Jobs
              </button>
            ) : null}
            {hasTracking ? (
              <button class={view === "metrics" ? "active" : ""} onClick={() => setView("metrics")} data-testid="view-metrics">
                Metrics
              </button>
            ) : null}
          </nav>
        ) : null}
        <nav class="runs">
          {view === "runs" && graphs.map((g) => (
            <button key={g.runId} class={g === run ? "active" : ""} onClick={() => setRunId(g.runId)} data-run={g.runId}>
              {g.label}
            </button>
          ))}
        </nav>
        <span class={`link link-${link}`} data-testid="link">
          {link === "open" ? `live · ${time(states.at)}` : link}
        </span>
        {storedKey.get() ? (
          <button
            class="logout"
            onClick={() => {
              storedKey.clear();
              conn.close();
              setLink("need-key");
            }}
          >
            forget key
          </button>
        ) : null}
      </header>
      {view === "jobs" ? (
        <main>
          <Jobs runs={jobRuns} events={jobEvents} selected={jobId} onSelect={setJobId} />
        </main>
      ) : view === "metrics" ? (
        <main>
          <Tracking runs={tracked} chosen={chosen} points={points} onChoose={choose} />
        </main>
      ) : !run ? (
        <p class="muted empty" data-testid="no-runs">
          No runs yet. Runners started through this server appear here.
        </p>
      ) : (
        <main>
          <section class="summary" data-testid="summary">
            <span>
              run <b>{run.label}</b> ({run.kind})
            </span>
            <span>
              state <b data-testid="run-state">{state?.state ?? "–"}</b>
            </span>
            <span>
              epochs <b data-testid="run-epochs">{state?.epochsCompleted ?? "–"}</b>
            </span>
            <span>
              <b data-testid="run-rate">{rate(state?.epochsPerSec)}</b> epochs/s
            </span>
            {state?.lastError ? (
              <span class="bad" data-testid="run-error">
                last error: {state.lastError.type}: {state.lastError.message}
              </span>
            ) : null}
          </section>
          <nav class="tabs">
            <button class={tab === "graph" ? "active" : ""} onClick={() => setTab("graph")}>
              Graph
            </button>
            <button class={tab === "hosts" ? "active" : ""} onClick={() => setTab("hosts")} data-testid="tab-hosts">
              Hosts & runners
            </button>
          </nav>
          <div class="body">
            {tab === "graph" ? (
              <div class="graph-wrap">
                <Graph graph={run} state={state} selected={node?.id} onSelect={setNodeId} />
              </div>
            ) : state ? (
              <Hosts state={state} />
            ) : null}
            {node && tab === "graph" ? <NodePanel node={node} state={state?.nodes[node.id]} onClose={() => setNodeId(undefined)} /> : null}
          </div>
        </main>
      )}
    </div>
  );
}
