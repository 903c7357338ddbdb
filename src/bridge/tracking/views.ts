/** The JSON shapes of the run tracking API, as the reference client reads them. Dates: ISO 8601 with a `Z`. */
import { createHash } from "node:crypto";
import type { MetricRecord, ProjectRecord, TrackedRunRecord } from "../../store/tracking-records.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** A stable UUID-shaped id derived from a name (a namespace, a key holder). */
export function nameUuid(kind: string, name: string): string {
  const h = createHash("sha256").update(`${kind}:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface TrackUser {
  uuid: string;
  username: string;
  slug: string;
  email: string;
}

/** The user an API key stands for: keys are not people here, so the name says which key (by its digest). */
export function userOf(digest: string): TrackUser {
  const username = `key-${digest.slice(0, 8)}`;
  return { uuid: nameUuid("user", digest), username, slug: username, email: `${username}@tubular.local` };
}

export function projectView(p: ProjectRecord) {
  return {
    uuid: p.uuid,
    display_name: p.display_name,
    slug: p.slug,
    date_created: iso(p.created_at),
    last_run_date: p.last_run_at === null ? null : iso(p.last_run_at),
    visibility: p.visibility,
    role: "OWNER",
    org_uuid: nameUuid("namespace", p.namespace),
    org_display_name: p.namespace,
    org_slug: p.namespace,
  };
}

export function runView(r: TrackedRunRecord, p: ProjectRecord, user: TrackUser) {
  return {
    uuid: r.uuid,
    name: r.name,
    description: r.description,
    status: r.status,
    date_created: iso(r.created_at),
    date_updated: iso(r.updated_at),
    project: { uuid: p.uuid, display_name: p.display_name, slug: p.slug },
    user: { uuid: user.uuid, username: user.username, slug: user.slug },
  };
}

export function metricView(m: MetricRecord) {
  return { name: m.name, value: m.value, step: m.step, timestamp: iso(m.timestamp) };
}
