/** Tracked runs: the newest runs of run tracking; the chosen ones' metrics plotted side by side, one chart per metric. */
import type { MetricPoint, TrackedRunView } from "../../src/bridge/dashboard/messages.ts";
import { time } from "./format.ts";
import { MetricChart } from "./metric-chart.tsx";

export const MAX_CHOSEN = 8;

export function Tracking(props: { runs: readonly TrackedRunView[]; chosen: readonly string[]; points: ReadonlyMap<string, readonly MetricPoint[]>; onChoose: (ids: string[]) => void }) {
  const { runs, chosen } = props;
  const toggle = (id: string) => props.onChoose(chosen.includes(id) ? chosen.filter((x) => x !== id) : [...chosen, id].slice(-MAX_CHOSEN));
  const series = chosen.flatMap((id) => {
    const r = runs.find((x) => x.id === id);
    return r ? [{ runId: id, label: `${r.project}/${r.name}`, points: props.points.get(id) ?? [] }] : [];
  });
  const names = [...new Set(series.flatMap((s) => s.points.map((p) => p.name)))].sort();
  return (
    <div class="tracking">
      <h2>Tracked runs</h2>
      {runs.length === 0 ? (
        <p class="muted" data-testid="no-tracked">
          No tracked runs yet (<code>tubular run --track</code>, the tracking API, or the job registry make them).
        </p>
      ) : (
        <table data-testid="tracked">
          <thead>
            <tr>
              <th>plot</th>
              <th>project</th>
              <th>run</th>
              <th>status</th>
              <th>started</th>
              <th>updated</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} class={chosen.includes(r.id) ? "picked" : ""} data-tracked={r.name} onClick={() => toggle(r.id)}>
                <td>
                  <input type="checkbox" checked={chosen.includes(r.id)} aria-label={`plot ${r.name}`} />
                </td>
                <td>{r.project}</td>
                <td>{r.name}</td>
                <td class={`job-${r.status}`}>{r.status}</td>
                <td>{time(r.createdAt)}</td>
                <td>{time(r.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {series.length > 0 ? (
        <>
          <h2>Metrics over steps</h2>
          {names.length === 0 ? <p class="muted">The chosen runs have logged no numbers yet.</p> : null}
          <div class="charts">
            {names.map((n) => (
              <MetricChart key={n} name={n} series={series} />
            ))}
          </div>
        </>
      ) : runs.length > 0 ? (
        <p class="muted">Choose runs to plot their metrics side by side (up to {MAX_CHOSEN}).</p>
      ) : null}
    </div>
  );
}
