/** Hosts (resources, load) and the runner processes of one run (pid, nodes, restarts, memory). */
import type { RunState } from "../../src/bridge/dashboard/messages.ts";
import { bytes } from "./format.ts";

export function Hosts(props: { state: RunState }) {
  const { state } = props;
  return (
    <div class="hosts">
      <h2>Hosts</h2>
      <table data-testid="hosts">
        <thead>
          <tr>
            <th>host</th>
            <th>labels</th>
            <th>cores</th>
            <th>load 1/5/15 min</th>
            <th>memory used</th>
            <th>runners</th>
            <th>alive</th>
          </tr>
        </thead>
        <tbody>
          {state.hosts.map((h) => (
            <tr key={h.name}>
              <td>{h.name}</td>
              <td>{h.labels.join(", ") || "–"}</td>
              <td>{h.cpus}</td>
              <td>
                {h.load.map((x) => x.toFixed(2)).join(" / ")}
                <meter min={0} max={h.cpus || 1} value={h.load[0] ?? 0} />
              </td>
              <td>
                {bytes(h.memoryTotal - h.memoryFree)} of {bytes(h.memoryTotal)}
                <meter min={0} max={h.memoryTotal || 1} value={h.memoryTotal - h.memoryFree} />
              </td>
              <td>{h.runners}</td>
              <td class={h.alive ? "ok" : "bad"}>{h.alive ? "yes" : "no"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Runner processes</h2>
      <table data-testid="runners">
        <thead>
          <tr>
            <th>runner</th>
            <th>host</th>
            <th>pid</th>
            <th>nodes</th>
            <th>status</th>
            <th>restarts</th>
            <th>memory (RSS)</th>
          </tr>
        </thead>
        <tbody>
          {state.runners.map((r) => (
            <tr key={r.id} data-runner={r.id}>
              <td>{r.id}</td>
              <td>{r.host}</td>
              <td data-testid={`pid-${r.id}`}>{r.pid ?? "–"}</td>
              <td>{r.nodes.join(", ")}</td>
              <td class={`status-text-${r.status}`}>{r.status}</td>
              <td>{r.restarts}</td>
              <td>{bytes(r.rssBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
