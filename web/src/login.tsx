/** Asks for an API key; the key is kept in this tab's session storage only. */
import { useState } from "preact/hooks";

export function Login(props: { refused: boolean; onKey: (key: string) => void }) {
  const [key, setKey] = useState("");
  return (
    <form
      class="login"
      data-testid="login"
      onSubmit={(e) => {
        e.preventDefault();
        if (key.trim()) props.onKey(key.trim());
      }}
    >
      <h1>tubular</h1>
      <p>This dashboard needs an API key of the server (the keys of `tubular serve --api-keys`).</p>
      {props.refused ? (
        <p class="bad" data-testid="login-refused">
          That key was refused.
        </p>
      ) : null}
      <label>
        API key
        <input type="password" name="key" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} autofocus />
      </label>
      <button type="submit">Open the dashboard</button>
    </form>
  );
}
