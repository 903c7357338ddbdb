/** The graph of one run: nodes with their live figures, edges with their rates, laid out by elkjs. */
import { useEffect, useState } from "preact/hooks";
import type { GraphView, RunState } from "../../src/bridge/dashboard/messages.ts";
import { epoch, ms, rate } from "./format.ts";
import { layout, type Laid, type Point } from "./layout.ts";

function path(points: Point[]): string {
  const [first, ...rest] = points;
  if (!first) return "";
  return `M${first.x},${first.y} ${rest.map((p) => `L${p.x},${p.y}`).join(" ")}`;
}

function shapeKey(g: GraphView): string {
  return JSON.stringify([g.nodes.map((n) => n.id), g.edges.map((e) => e.id)]);
}

export function Graph(props: { graph: GraphView; state: RunState | undefined; selected: string | undefined; onSelect: (id: string) => void }) {
  const { graph, state } = props;
  const [laid, setLaid] = useState<{ key: string; laid: Laid } | undefined>();
  const key = shapeKey(graph);
  useEffect(() => {
    let live = true;
    void layout(graph).then((l) => live && setLaid({ key, laid: l }));
    return () => {
      live = false;
    };
  }, [key]);
  if (!laid || laid.key !== key) return <div class="muted">laying out the graph…</div>;
  const l = laid.laid;
  return (
    <svg class="graph" width={l.width} height={l.height} viewBox={`0 0 ${l.width} ${l.height}`} data-testid="graph">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
        </marker>
      </defs>
      {graph.edges.map((e) => {
        const pts = l.edges.get(e.id);
        if (!pts) return null;
        const mid = pts[Math.floor(pts.length / 2)]!;
        const prev = pts[Math.floor(pts.length / 2) - 1] ?? mid;
        // Events/s counted on the edge's signal where it is emitted (not derived from node rates).
        const r = state?.edges[e.id] ?? null;
        return (
          <g class="edge" data-edge={e.id} key={e.id}>
            <path d={path(pts)} marker-end="url(#arrow)" />
            <text x={(mid.x + prev.x) / 2} y={(mid.y + prev.y) / 2 - 6} text-anchor="middle">
              {e.signal}→{e.slot}
              {r !== null ? " · " : ""}
              {r !== null ? <tspan data-testid={`edge-rate-${e.id}`}>{rate(r)}</tspan> : null}
              {r !== null ? " ev/s" : ""}
            </text>
          </g>
        );
      })}
      {graph.nodes.map((n) => {
        const box = l.nodes.get(n.id);
        if (!box) return null;
        if (n.kind === "input") {
          return (
            <g class="node input" key={n.id} data-node={n.id} transform={`translate(${box.x},${box.y})`}>
              <rect width={box.w} height={box.h} rx="18" />
              <text x={box.w / 2} y={box.h / 2 + 4} text-anchor="middle">
                {n.id}
              </text>
            </g>
          );
        }
        const s = state?.nodes[n.id];
        const status = s?.status ?? "unknown";
        return (
          <g class={`node status-${status}${props.selected === n.id ? " selected" : ""}`} key={n.id} data-node={n.id} data-status={status} transform={`translate(${box.x},${box.y})`} onClick={() => props.onSelect(n.id)}>
            <rect width={box.w} height={box.h} rx="6" />
            <text class="title" x="10" y="18">
              {n.id}
            </text>
            <text class="type" x={box.w - 10} y="18" text-anchor="end">
              {n.type}
            </text>
            <text class="status" x="10" y="36" data-testid={`status-${n.id}`}>
              {status}
              {s?.restarts ? ` · restarts ${s.restarts}` : ""}
            </text>
            <text class="where" x="10" y="52">
              {s?.host ? `${s.host}` : ""}
              {s?.pid ? ` · pid ${s.pid}` : ""}
              {s?.runner && s.runner !== n.id ? ` · ${s.runner}` : ""}
            </text>
            <text class="figures" x="10" y="70">
              <tspan data-testid={`rate-${n.id}`}>{rate(s?.epochsPerSec)}</tspan> epochs/s · <tspan data-testid={`epochs-${n.id}`}>{s?.epochs ?? "–"}</tspan> epochs
            </text>
            <text class="figures" x="10" y="86">
              p50 <tspan data-testid={`p50-${n.id}`}>{ms(s?.p50Ms)}</tspan> · p99 <tspan data-testid={`p99-${n.id}`}>{ms(s?.p99Ms)}</tspan> ·{" "}
              <tspan class={s?.errors ? "errors-some" : ""} data-testid={`errors-${n.id}`}>
                {s?.errors ?? 0}
              </tspan>{" "}
              errors
            </text>
            {s?.error ? (
              <text class="error" x="10" y="102" data-testid={`error-${n.id}`}>
                {`${s.error.type}: ${s.error.message}`.slice(0, 34)} @ {epoch(s.error.epoch)}
              </text>
            ) : null}
          </g>
        );
      })}
    </svg>
  );
}
