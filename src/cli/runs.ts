/**
 * `tubular runs [--project P]`: the tracked runs in the store, newest first.
 * `tubular runs show NAME [--plot FILE.png|.svg]`: one run with its metrics
 * as a table, and a plot of each metric over its steps.
 */
import { writeFile } from "node:fs/promises";
import { Command } from "commander";
import { TubularError } from "../errors.ts";
import { DEFAULT_NAMESPACE, slugify, TrackingError } from "../bridge/tracking/index.ts";
import { openStore } from "../store/open.ts";
import type { Store } from "../store/store.ts";
import type { MetricRecord, ProjectRecord, TrackedRunRecord } from "../store/tracking-records.ts";
import { ExitCode, defaultContext, reportError, toJson, type CliContext } from "./common.ts";

interface RunsOptions {
  db: string;
  project?: string;
  namespace: string;
  json?: boolean;
}

const DB_HELP = "the store: a SQLite file, or postgres://USER:PASS@HOST/DB (as tubular serve --db)";

async function withStore<T>(db: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(db);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

const when = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);

function showValue(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, "");
  return JSON.stringify(v);
}

async function projectFilter(store: Store, namespace: string, project: string | undefined): Promise<ProjectRecord | undefined> {
  if (project === undefined) return undefined;
  const p = (await store.tracking.getProject(namespace, project)) ?? (await store.tracking.getProject(namespace, slugify(project)));
  if (!p) throw TrackingError.notFound(`no project "${project}" in namespace "${namespace}"`);
  return p;
}

export function runsCommand(io: CliContext = defaultContext()): Command {
  const cmd = new Command("runs")
    .description("list tracked runs (tubular run --track, jobs, JSON-RPC runners, the Run API)")
    .option("--db <file|url>", DB_HELP, "tubular.db")
    .option("--project <name>", "only this project's runs (its name or slug)")
    .option("--namespace <ns>", "the projects' namespace", DEFAULT_NAMESPACE)
    .option("--json", "print one JSON object per run")
    .addHelpText(
      "after",
      `
Examples:
  $ tubular run examples/basic.yaml --track demo
  $ tubular runs --project demo
  $ tubular runs show brave_pasta_123 --plot metrics.png`,
    )
    .action(async (options: RunsOptions) => {
      try {
        await withStore(options.db, async (store) => {
          const p = await projectFilter(store, options.namespace, options.project);
          const runs = await store.tracking.listTrackedRuns({ ...(p ? { projectUuid: p.uuid } : {}), limit: 1000 });
          const projects = new Map((await store.tracking.listProjects()).map((x) => [x.uuid, x]));
          if (options.json) {
            for (const r of runs) io.stdout.write(`${toJson({ ...r, project: projects.get(r.project_uuid)?.slug })}\n`);
            return;
          }
          if (runs.length === 0) return void io.stderr.write("no tracked runs\n");
          io.stdout.write(table([["NAME", "PROJECT", "STATUS", "CREATED", "UPDATED"], ...runs.map((r) => [r.name, projects.get(r.project_uuid)?.slug ?? "?", r.status, when(r.created_at), when(r.updated_at)])]));
        });
        io.exitCode = ExitCode.OK;
      } catch (err) {
        io.exitCode = reportError(err, io.stderr);
      }
    });
  cmd
    .command("show")
    .description("print a run and its metrics; --plot draws each metric over its steps")
    .argument("<name>", "the run's name (or uuid); --db, --project (when several projects have a run of that name) and --namespace as for runs")
    .option("--plot <file>", "write a plot of the metrics: FILE.png or FILE.svg")
    .option("--json", "print the run and its metrics as one JSON object")
    .action(async (name: string, _local: unknown, command: Command) => {
      const options = command.optsWithGlobals<RunsOptions & { plot?: string }>();
      try {
        // The charting libraries load only when a plot is asked for: they take a while to import.
        const plot = options.plot ? await import("../bridge/tracking/plot.ts") : undefined;
        const format = options.plot ? plot!.plotFormatOf(options.plot) : undefined;
        if (options.plot && !format) throw new TubularError("TUBULAR_ERR_PLOT", `--plot ${options.plot}: the file must end in .png or .svg`);
        await withStore(options.db, async (store) => {
          const p = await projectFilter(store, options.namespace, options.project);
          const byUuid = await store.tracking.getTrackedRun(name);
          const found: TrackedRunRecord[] = byUuid ? [byUuid] : await store.tracking.listTrackedRuns({ name, ...(p ? { projectUuid: p.uuid } : {}) });
          if (found.length === 0) throw TrackingError.notFound(`no tracked run named "${name}"${options.project ? ` in project ${options.project}` : ""}`);
          if (found.length > 1) throw TrackingError.badRequest(`${found.length} projects have a run named "${name}": add --project`);
          const run = found[0]!;
          const project = (await store.tracking.getProjectByUuid(run.project_uuid))!;
          const metrics = await store.tracking.listMetrics(run.uuid);
          if (options.json) io.stdout.write(`${toJson({ ...run, project: project.slug, metrics })}\n`);
          else io.stdout.write(describe(run, project, metrics));
          if (options.plot && format) {
            const bytes = await plot!.renderPlot(`${project.slug} / ${run.name}`, metrics, format);
            try {
              await writeFile(options.plot, bytes);
            } catch (err) {
              throw new TubularError("TUBULAR_ERR_PLOT", `--plot ${options.plot}: ${(err as Error).message}`, { file: options.plot }, { cause: err });
            }
            io.stderr.write(`tubular: plot of ${new Set(metrics.map((m) => m.name)).size} metrics written to ${options.plot}\n`);
          }
        });
        io.exitCode = ExitCode.OK;
      } catch (err) {
        io.exitCode = reportError(err, io.stderr);
      }
    });
  return cmd;
}

function describe(run: TrackedRunRecord, project: ProjectRecord, metrics: MetricRecord[]): string {
  const head = [
    `run:         ${run.name}`,
    `uuid:        ${run.uuid}`,
    `project:     ${project.namespace}/${project.slug}`,
    `status:      ${run.status}`,
    `created:     ${when(run.created_at)}`,
    `updated:     ${when(run.updated_at)}`,
    ...(run.description ? [`description: ${run.description}`] : []),
    ...(run.job_run_id ? [`job run:     ${run.job_run_id}`] : []),
  ].join("\n");
  if (metrics.length === 0) return `${head}\n\nno metrics\n`;
  return `${head}\n\n${table([["METRIC", "STEP", "VALUE"], ...metrics.map((m) => [m.name, String(m.step), showValue(m.value)])])}`;
}
