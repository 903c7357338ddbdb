/** A clicked node: its params, slots, signals, where it runs and its last error in full. */
import type { NodeState, NodeView } from "../../src/bridge/dashboard/messages.ts";
import { epoch, ms, rate, time } from "./format.ts";

export function NodePanel(props: { node: NodeView; state: NodeState | undefined; onClose: () => void }) {
  const { node, state } = props;
  return (
    <aside class="panel" data-testid="node-panel">
      <header>
        <h2>{node.id}</h2>
        <button onClick={props.onClose} aria-label="close">
          ×
        </button>
      </header>
      <dl>
        <dt>type</dt>
        <dd>{node.type}</dd>
        <dt>status</dt>
        <dd class={`status-text-${state?.status ?? "unknown"}`}>{state?.status ?? "unknown"}</dd>
        <dt>runner</dt>
        <dd>
          {state?.runner ?? "–"} on {state?.host ?? "–"} {state?.pid ? `(pid ${state.pid})` : ""}
        </dd>
        <dt>restarts</dt>
        <dd>
          {state?.restarts ?? 0} {node.restart ? `(policy ${node.restart})` : ""}
        </dd>
        <dt>epochs</dt>
        <dd>
          {state?.epochs ?? "–"} ({rate(state?.epochsPerSec)} /s)
        </dd>
        <dt>process time</dt>
        <dd>
          p50 {ms(state?.p50Ms)} · p99 {ms(state?.p99Ms)} <span class="muted">(last 512 runs)</span>
        </dd>
        <dt>errors</dt>
        <dd class={state?.errors ? "bad" : ""}>{state?.errors ?? 0}</dd>
        <dt>slots</dt>
        <dd>{node.slots.length ? node.slots.join(", ") : "–"}</dd>
        <dt>signals</dt>
        <dd>{node.signals.length ? node.signals.join(", ") : "–"}</dd>
        {node.group ? (
          <>
            <dt>group</dt>
            <dd>{node.group}</dd>
          </>
        ) : null}
      </dl>
      <h3>params</h3>
      <pre>{Object.keys(node.params).length ? JSON.stringify(node.params, null, 2) : "none"}</pre>
      {state?.error ? (
        <div class="error-box" data-testid="node-error">
          <h3>last error</h3>
          <p>
            <b>{state.error.type}</b> at epoch {epoch(state.error.epoch)} ({time(state.error.at)})
          </p>
          <p>{state.error.message}</p>
          <p class="muted">{state.error.code}</p>
        </div>
      ) : null}
    </aside>
  );
}
