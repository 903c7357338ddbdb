/**
 * Endpoints. ipc endpoints live in a per-run directory under the OS temp dir
 * (removed on cleanup); tcp endpoints may bind a wildcard host and port 0 and
 * read back what the OS chose.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TubularError } from "../errors.ts";

export type Transport = "ipc" | "tcp" | "inproc";

/**
 * Usable bytes of a unix socket path: `sun_path` is 108 bytes on Linux
 * (104 on macOS and BSDs), including the terminating NUL. We keep to the
 * smaller one so a run directory works everywhere.
 */
export const MAX_IPC_PATH_BYTES = 103;

/** The longest a socket file name gets before it is shortened with a hash. */
const MAX_SOCKET_NAME = 40;

/** A socket file name from any id: safe characters only, shortened with a hash when long or altered. */
export function socketFileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (safe === name && safe.length <= MAX_SOCKET_NAME) return `${safe}.sock`;
  const hash = createHash("sha1").update(name).digest("hex").slice(0, 10);
  return `${safe.slice(0, MAX_SOCKET_NAME - 11)}-${hash}.sock`;
}

/** `ipc://<dir>/<name>.sock`; throws TUBULAR_ERR_TRANSPORT when the path is too long for a unix socket. */
export function ipcEndpoint(dir: string, name: string): string {
  const path = join(dir, socketFileName(name));
  if (Buffer.byteLength(path) > MAX_IPC_PATH_BYTES) {
    throw new TubularError("TUBULAR_ERR_TRANSPORT", `ipc socket path ${path} is longer than ${MAX_IPC_PATH_BYTES} bytes`, { path });
  }
  return `ipc://${path}`;
}

/** `tcp://host:port`; IPv6 hosts are bracketed. Port 0 binds a free port (read it back with `boundEndpoint`). */
export function tcpEndpoint(host: string, port: number): string {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TubularError("TUBULAR_ERR_TRANSPORT", `invalid tcp port ${port}`, { port });
  }
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `tcp://${h}:${port}`;
}

/** The endpoint a bound socket actually listens on (`socket.lastEndpoint`), e.g. the port chosen for `:0`. */
export function boundEndpoint(socket: { readonly lastEndpoint: string | null }): string {
  const ep = socket.lastEndpoint;
  if (!ep) throw new TubularError("TUBULAR_ERR_TRANSPORT", "the socket is not bound");
  return ep;
}

/**
 * The address peers should connect to, for an endpoint bound on a wildcard:
 * `tcp://0.0.0.0:5555` advertised as `tcp://<host>:5555`. Other endpoints are returned as they are.
 */
export function advertisedEndpoint(endpoint: string, host: string): string {
  const m = /^tcp:\/\/(0\.0\.0\.0|\*|\[::\]|\[::0\]):(\d+)$/.exec(endpoint);
  return m ? tcpEndpoint(host, Number(m[2])) : endpoint;
}

/** The host of a tcp endpoint, or undefined. */
export function endpointHost(endpoint: string): string | undefined {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:]+):\d+$/.exec(endpoint);
  return m?.[1];
}

function runDirBase(): string {
  // A long TMPDIR (macOS's /var/folders/...) leaves no room for socket names; /tmp then.
  const base = tmpdir();
  return Buffer.byteLength(base) > 60 && process.platform !== "win32" ? "/tmp" : base;
}

/**
 * A per-run directory for ipc socket files. `cleanup()` removes it with every
 * socket file in it; with `removeOnExit` it is also removed when the process exits.
 */
/** Run directories to remove if the process exits first: one exit listener for all of them, however many runs a process holds. */
const removeAtExit = new Set<string>();
let exitListener: (() => void) | undefined;

function removeOnExit(path: string): void {
  removeAtExit.add(path);
  if (exitListener) return;
  exitListener = () => {
    for (const p of removeAtExit) rmSync(p, { recursive: true, force: true });
  };
  process.once("exit", exitListener);
}

export class RunDir {
  private constructor(readonly path: string, removeAtProcessExit: boolean) {
    if (removeAtProcessExit) removeOnExit(path);
  }

  static async create(options: { prefix?: string; removeOnExit?: boolean } = {}): Promise<RunDir> {
    const path = await mkdtemp(join(runDirBase(), options.prefix ?? "tubular-"));
    return new RunDir(path, options.removeOnExit ?? true);
  }

  static createSync(options: { prefix?: string; removeOnExit?: boolean } = {}): RunDir {
    return new RunDir(mkdtempSync(join(runDirBase(), options.prefix ?? "tubular-")), options.removeOnExit ?? true);
  }

  /** The ipc endpoint of a socket named `name` in this run. */
  ipc(name: string): string {
    return ipcEndpoint(this.path, name);
  }

  async cleanup(): Promise<void> {
    removeAtExit.delete(this.path);
    await rm(this.path, { recursive: true, force: true });
  }
}

let uniqueCounter = 0;

/**
 * A fresh address to bind, unique in this process: for tests and for sockets
 * whose address is announced rather than configured. tcp gives
 * `tcp://127.0.0.1:0` (read the port back after binding); ipc needs a run directory.
 */
export function uniqueAddress(transport: Transport, runDir?: RunDir | string): string {
  const name = `s${process.pid}-${++uniqueCounter}-${randomBytes(3).toString("hex")}`;
  switch (transport) {
    case "tcp":
      return tcpEndpoint("127.0.0.1", 0);
    case "inproc":
      return `inproc://tubular-${name}`;
    case "ipc": {
      if (runDir === undefined) throw new TubularError("TUBULAR_ERR_TRANSPORT", "an ipc address needs a run directory");
      return typeof runDir === "string" ? ipcEndpoint(runDir, name) : runDir.ipc(name);
    }
  }
}
