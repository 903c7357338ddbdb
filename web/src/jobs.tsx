/** The job registry's runs (state, progress, worker, attempts) and the events of the one picked, as they come. */
import type { JobEventView, JobRunView } from "../../src/bridge/dashboard/messages.ts";
import { time } from "./format.ts";

export function Jobs(props: { runs: readonly JobRunView[]; events: ReadonlyMap<string, readonly JobEventView[]>; selected: string | undefined; onSelect: (id: string) => void }) {
  const picked = props.runs.find((r) => r.id === props.selected);
  const events = picked ? (props.events.get(picked.id) ?? []) : [];
  return (
    <div class="body">
      <div class="jobs">
        {props.runs.length === 0 ? (
          <p class="muted empty">No runs in the job registry yet.</p>
        ) : (
          <table data-testid="jobs">
            <thead>
              <tr>
                <th>run</th>
                <th>job</th>
                <th>state</th>
                <th>progress</th>
                <th>worker</th>
                <th>attempt</th>
                <th>updated</th>
              </tr>
            </thead>
            <tbody>
              {props.runs.map((r) => (
                <tr key={r.id} data-job={r.id} class={r.id === props.selected ? "picked" : ""} onClick={() => props.onSelect(r.id)}>
                  <td title={r.id}>{r.id.slice(0, 8)}</td>
                  <td>{r.name}</td>
                  <td class={`job-${r.state}`} data-testid={`job-state-${r.id}`}>
                    {r.state}
                    {r.error ? <div class="bad small">{r.error}</div> : null}
                  </td>
                  <td>
                    <div class="bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={r.progress} data-testid={`progress-${r.id}`}>
                      <div class="fill" style={{ width: `${Math.max(0, Math.min(100, r.progress))}%` }} />
                      <span>{Math.round(r.progress)} %</span>
                    </div>
                  </td>
                  <td>{r.worker ?? "–"}</td>
                  <td>
                    {r.attempt} / {r.maxAttempts}
                  </td>
                  <td>{time(r.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {picked ? (
        <aside class="panel" data-testid="job-events">
          <header>
            <h2>events of {picked.id.slice(0, 8)}</h2>
          </header>
          <ol class="events">
            {events.map((e) => (
              <li key={e.id} data-event={e.type}>
                <span class="muted">{time(e.t)}</span> <b>{e.type}</b> {typeof e.msg === "number" ? `${e.msg}` : e.msg} <span class="muted">→ {e.state}</span>
              </li>
            ))}
          </ol>
        </aside>
      ) : null}
    </div>
  );
}
