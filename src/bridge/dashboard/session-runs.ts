/** The runs the bridge's dashboard shows: every session's runners, each owned by the key that made it. */
import type { Session } from "../session.ts";
import type { WatchedRun } from "./feed.ts";

export function* sessionRuns(sessions: Iterable<Session>): Iterable<WatchedRun> {
  for (const session of sessions) {
    if (session.isDisposed) continue;
    for (const entry of session.runners.values()) {
      const tube = session.tubes.get(entry.tubeId)?.tube;
      if (!tube) continue;
      yield { id: `${session.id}/${entry.id}`, label: `${entry.tubeId} · ${entry.id}`, kind: entry.kind, tube, runner: entry.runner, owner: session.principal };
    }
  }
}
