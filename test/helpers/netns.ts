/**
 * A throw-away network of "hosts" for multi-host tests: one Linux network
 * namespace per host, all joined on one L2 segment (a bridge that lives in a
 * namespace of its own, with a veth pair per host), each host with loopback up
 * and an address 10.213.K.N/24 on its interface `eth0`.
 *
 * Nothing is created in the root namespace except the namespace names under
 * /run/netns: veths and the bridge live inside the namespaces and vanish with
 * them, so networks of parallel test files never see each other. The one
 * exception is opt-in: `local: NAME` makes host NAME the test process's own
 * namespace, joined to the segment by a veth of its own, so the test itself
 * can listen and connect on the segment (e.g. run the driver in-process).
 * Each network holds a lock on its subnet (a file under /run/tubular-netns),
 * so no two live networks on the machine share one.
 *
 * Every process started through a network (exec, run, captures) is tracked;
 * destroy() ends them (process group, then any process still inside one of the
 * namespaces: SIGTERM, then SIGKILL after a grace period) and deletes the
 * namespaces. A process 'exit' hook does the same synchronously for a network
 * a failed test never destroyed, and createNetwork() first sweeps namespaces
 * left by test processes that died without either.
 *
 * Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; see netnsAvailable().
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, closeSync, constants as fsConstants, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Every namespace name this harness makes starts with this, then the creating pid. */
export const NS_PREFIX = "tbl-";
const NS_PATTERN = /^tbl-(\d+)-/;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const TAIL_BYTES = 64 * 1024;

export interface NetHost {
  /** The name given to createNetwork. */
  readonly name: string;
  /** The network namespace (`ip netns exec NS ...`); null for the `local` host, the test process's own namespace. */
  readonly ns: string | null;
  /** Its IPv4 address on the segment, without prefix length. */
  readonly ip: string;
  /** Its interface on the segment: "eth0" inside its namespace, or a unique "tb..." name for the `local` host. */
  readonly iface: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the command was killed because it outlived timeoutMs. */
  timedOut: boolean;
}

export interface RunOptions extends Omit<SpawnOptions, "stdio" | "detached"> {
  /** Kill the command (SIGKILL) after this long; default 15 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
}

export interface NetworkOptions {
  /** Third octet of 10.213.K.0/24; default: random in 1..254. */
  subnet?: number;
  /** How long destroy() waits after SIGTERM before SIGKILL; default 2000 ms. */
  graceMs?: number;
  /**
   * The host (one of the names) that is the test process's own namespace
   * rather than a new one: a veth joins it to the segment, so the test can
   * bind and connect there itself. exec() on it spawns without `ip netns exec`.
   */
  local?: string;
}

export interface Network {
  /** Unique id of this network: `tbl-<pid>-<random>`; every namespace name starts with it. */
  readonly id: string;
  /** "10.213.K.0/24" */
  readonly subnet: string;
  readonly hosts: Readonly<Record<string, NetHost>>;
  /** The bridge joining the hosts (capture on it to see all traffic between hosts). */
  readonly bridge: { readonly ns: string; readonly iface: string };
  /**
   * Starts `cmd args` inside host `name`'s namespace (`ip netns exec`, which
   * execs the command, so child.pid is the command's pid; the `local` host's
   * commands are spawned directly). It runs in a process
   * group of its own (so destroy() reaches its children too); stdout and stderr
   * are piped and always drained, their last 64 KiB kept for output().
   * Set TUBULAR_NETNS_DEBUG=1 to echo them, prefixed, on this process's stderr.
   */
  exec(name: string, cmd: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** exec() in any namespace of this network, e.g. the bridge's (null: the test process's own). */
  execIn(ns: string | null, cmd: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Runs a command to its end inside host `name`, collecting its output. */
  run(name: string, cmd: string, args?: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** The last 64 KiB of stdout and stderr of a process started by exec(). */
  output(child: ChildProcess): { stdout: string; stderr: string };
  /**
   * Pulls host `name`'s cable: its port on the bridge goes down, so its eth0
   * loses carrier and packets to and from it are dropped silently (no RST, no
   * ICMP), as with a lost connection. Existing sockets stay open.
   */
  cutLink(name: string): Promise<void>;
  /** Plugs the cable back in. */
  restoreLink(name: string): Promise<void>;
  /** Pids of the processes started through this network that are still running. */
  pids(): number[];
  /** Ends every process in the network and deletes every namespace (and so every veth and the bridge). Idempotent. */
  destroy(): Promise<void>;
}

// ---------------------------------------------------------------------------
// tools

/** Absolute path of a program, looked up in PATH and the sbin directories (which a non-login PATH may lack). */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

function ipProgram(): string {
  const ip = findProgram("ip");
  if (!ip) throw new Error("the `ip` command (iproute2) was not found");
  return ip;
}

/** Runs `ip [-n NS] [-force] -batch -` with the given lines on stdin. */
function ipBatch(lines: readonly string[], opts: { ns?: string; force?: boolean } = {}): Promise<void> {
  const args = [...(opts.ns ? ["-n", opts.ns] : []), ...(opts.force ? ["-force"] : []), "-batch", "-"];
  return new Promise((resolve, reject) => {
    const child = spawn(ipProgram(), args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 || opts.force) resolve();
      else reject(new Error(`ip ${args.join(" ")} failed (exit ${code}): ${stderr.trim()}\ncommands:\n${lines.join("\n")}`));
    });
    child.stdin!.end(lines.join("\n") + "\n");
  });
}

function ipBatchSync(lines: readonly string[]): void {
  const ip = findProgram("ip");
  if (!ip || lines.length === 0) return;
  spawnSync(ip, ["-force", "-batch", "-"], { input: lines.join("\n") + "\n", stdio: ["pipe", "ignore", "ignore"], timeout: 10_000 });
}

function ipOut(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(ipProgram(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`ip ${args.join(" ")} failed (exit ${code}): ${err.trim()}`))));
  });
}

/** Names of all network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await ipOut(["netns", "list"]);
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n !== "");
}

/** Pids of the processes inside a namespace (`ip netns pids`); empty when it is gone. */
export async function namespacePids(ns: string): Promise<number[]> {
  try {
    return parsePids(await ipOut(["netns", "pids", ns]));
  } catch {
    return [];
  }
}

function namespacePidsSync(ns: string): number[] {
  const ip = findProgram("ip");
  if (!ip) return [];
  const r = spawnSync(ip, ["netns", "pids", ns], { encoding: "utf8", timeout: 5000 });
  return r.status === 0 ? parsePids(r.stdout) : [];
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** Whether a process exists and is not a zombie (an orphan's zombie may wait long for init to reap it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ...: comm may hold spaces and parentheses, so the state follows the last ')'
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  if (group) {
    try {
      process.kill(-pid, sig);
    } catch {
      // no such group (already gone, or not a group leader)
    }
  }
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// availability

let availability: Promise<{ ok: boolean; reason?: string }> | undefined;

/**
 * Whether this machine lets us build networks: root, iproute2, and a
 * namespace with a veth and a bridge actually created (then removed). Cached.
 * Tests use it as `describe.skipIf(!avail.ok)` and show avail.reason.
 */
export function netnsAvailable(): Promise<{ ok: boolean; reason?: string }> {
  availability ??= probe();
  return availability;
}

async function probe(): Promise<{ ok: boolean; reason?: string }> {
  if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return { ok: false, reason: `network namespaces need root (running as uid ${process.getuid()})` };
  }
  if (!findProgram("ip")) return { ok: false, reason: "the `ip` command (iproute2) is not installed" };
  const ns = `${NS_PREFIX}${process.pid}-probe${randomBytes(3).toString("hex")}`;
  try {
    await ipBatch([`netns add ${ns}`]);
    await ipBatch(["link add br0 type bridge", "link add p0 type veth peer name p1", "link set p0 master br0", "link set lo up"], { ns });
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `could not create a network namespace with a veth pair and a bridge: ${(err as Error).message.split("\n")[0]}` };
  } finally {
    await ipBatch([`netns del ${ns}`], { force: true }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------
// cleanup of networks a test left behind

const live = new Set<NetworkImpl>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const net of live) net.destroySync();
  });
}

/**
 * Removes namespaces of this harness whose creating process is gone (a test
 * process killed with SIGKILL runs no hook), killing what still runs in them.
 */
export async function sweepStale(): Promise<string[]> {
  sweepStaleLocks();
  const stale = (await listNamespaces()).filter((ns) => {
    const m = NS_PATTERN.exec(ns);
    return m !== null && Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
  });
  if (stale.length === 0) return [];
  for (const ns of stale) for (const pid of await namespacePids(ns)) signal(pid, "SIGKILL", false);
  await ipBatch(
    stale.map((ns) => `netns del ${ns}`),
    { force: true },
  );
  return stale;
}

// ---------------------------------------------------------------------------
// subnets: one live network per 10.213.K.0/24 on this machine

function lockDir(): string {
  for (const dir of ["/run/tubular-netns", join(tmpdir(), "tubular-netns")]) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      accessSync(dir, fsConstants.W_OK);
      return dir;
    } catch {
      // next
    }
  }
  throw new Error("no writable directory for subnet locks");
}

/** Takes the lock of a free subnet (the one asked for, or a random one); returns its third octet and lock file. */
function lockSubnet(wanted?: number): { k: number; file: string } {
  const dir = lockDir();
  const start = wanted ?? 1 + (randomBytes(1)[0]! % 254);
  for (let n = 0; n < 254; n++) {
    const k = wanted ?? 1 + ((start - 1 + n) % 254);
    const file = join(dir, `10.213.${k}.lock`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, "wx", 0o644);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return { k, file };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        let owner = NaN;
        try {
          owner = Number(readFileSync(file, "utf8").trim());
        } catch {
          // vanished meanwhile: try again
        }
        // A lock being written has no pid yet; only a lock whose owner is gone is taken over.
        if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
          try {
            unlinkSync(file);
          } catch {
            // someone else took it over first
          }
          continue;
        }
        break;
      }
    }
    if (wanted !== undefined) throw new Error(`subnet 10.213.${wanted}.0/24 is in use by another live test network`);
  }
  throw new Error("every subnet 10.213.1-254.0/24 is in use by live test networks");
}

/** Removes subnet locks whose owner is gone. */
function sweepStaleLocks(): void {
  let dir: string;
  try {
    dir = lockDir();
    for (const name of readdirSync(dir)) {
      if (!/^10\.213\.\d+\.lock$/.test(name)) continue;
      const file = join(dir, name);
      const owner = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) unlinkSync(file);
    }
  } catch {
    // best effort: lockSubnet takes over stale locks anyway
  }
}

function unlockSubnet(file: string): void {
  try {
    if (Number(readFileSync(file, "utf8").trim()) === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------
// the network

interface Tracked {
  child: ChildProcess;
  stdout: string;
  stderr: string;
}

class NetworkImpl implements Network {
  readonly id: string;
  readonly subnet: string;
  readonly hosts: Record<string, NetHost> = {};
  readonly bridge: { ns: string; iface: string };
  /** Bridge-side veth of each host. */
  private readonly ports = new Map<string, string>();
  private readonly tracked = new Map<ChildProcess, Tracked>();
  private readonly graceMs: number;
  private destroying: Promise<void> | undefined;
  /** Namespaces that may exist (created or being created). */
  readonly namespaces: string[] = [];
  private readonly lockFile: string;
  /** The `local` host's veth in our own namespace, once it may exist. */
  private localIface: string | undefined;

  constructor(names: readonly string[], opts: NetworkOptions) {
    if (opts.subnet !== undefined && (!Number.isInteger(opts.subnet) || opts.subnet < 1 || opts.subnet > 254)) {
      throw new Error(`subnet must be 1..254, got ${opts.subnet}`);
    }
    if (opts.local !== undefined && !names.includes(opts.local)) throw new Error(`local host "${opts.local}" is not one of the names`);
    const { k, file } = lockSubnet(opts.subnet);
    this.lockFile = file;
    this.graceMs = opts.graceMs ?? 2000;
    const rand = randomBytes(3).toString("hex");
    this.id = `${NS_PREFIX}${process.pid}-${rand}`;
    this.subnet = `10.213.${k}.0/24`;
    // A dot cannot occur in a host name, so the bridge's namespace never clashes with a host's.
    this.bridge = { ns: `${this.id}.bridge`, iface: "br0" };
    names.forEach((name, i) => {
      const local = name === opts.local;
      // Interface names have at most 15 characters; "tb" + 6 random hex + the subnet keeps the local one unique.
      this.hosts[name] = { name, ns: local ? null : `${this.id}-${name}`, ip: `10.213.${k}.${i + 1}`, iface: local ? `tb${rand}k${k}` : "eth0" };
      this.ports.set(name, `p${i + 1}`);
    });
  }

  async setUp(): Promise<void> {
    const hosts = Object.values(this.hosts);
    this.namespaces.push(this.bridge.ns, ...hosts.flatMap((h) => (h.ns === null ? [] : [h.ns])));
    await ipBatch(this.namespaces.map((ns) => `netns add ${ns}`));
    // No IPv6 link-local addresses (addrgenmode none): keeps router/neighbour solicitations out of captures.
    const bridgeLines = ["link set lo up", "link add br0 type bridge", "link set br0 addrgenmode none", "link set br0 up"];
    for (const h of hosts) {
      const port = this.ports.get(h.name)!;
      if (h.ns === null) this.localIface = h.iface;
      bridgeLines.push(
        // "netns PID": the namespace of that process, here our own.
        `link add ${port} type veth peer name ${h.iface} netns ${h.ns ?? process.pid}`,
        `link set ${port} master br0`,
        `link set ${port} addrgenmode none`,
        `link set ${port} up`,
      );
    }
    await ipBatch(bridgeLines, { ns: this.bridge.ns });
    await Promise.all(
      hosts.map((h) =>
        h.ns === null
          ? ipBatch([`link set ${h.iface} addrgenmode none`, `addr add ${h.ip}/24 dev ${h.iface}`, `link set ${h.iface} up`])
          : ipBatch(["link set lo up", `link set ${h.iface} addrgenmode none`, `addr add ${h.ip}/24 dev ${h.iface}`, `link set ${h.iface} up`], { ns: h.ns }),
      ),
    );
  }

  private host(name: string): NetHost {
    const h = this.hosts[name];
    if (!h) throw new Error(`no host "${name}" in network ${this.id} (hosts: ${Object.keys(this.hosts).join(", ")})`);
    return h;
  }

  exec(name: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    return this.execIn(this.host(name).ns, cmd, args, opts, name);
  }

  execIn(ns: string | null, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}, label: string = ns ?? "local"): ChildProcess {
    if (this.destroying) throw new Error(`network ${this.id} is destroyed`);
    if (ns !== null && !this.namespaces.includes(ns)) throw new Error(`namespace ${ns} is not part of network ${this.id}`);
    const [file, argv] = ns === null ? [cmd, [...args]] : [ipProgram(), ["netns", "exec", ns, cmd, ...args]];
    const child = spawn(file, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...opts,
    });
    const t: Tracked = { child, stdout: "", stderr: "" };
    this.tracked.set(child, t);
    const debug = process.env.TUBULAR_NETNS_DEBUG;
    for (const stream of ["stdout", "stderr"] as const) {
      const s = child[stream];
      if (!s) continue;
      s.setEncoding("utf8");
      s.on("data", (text: string) => {
        t[stream] = (t[stream] + text).slice(-TAIL_BYTES);
        if (debug) process.stderr.write(text.replace(/^(?=.)/gm, `[${label}:${child.pid}] `));
      });
    }
    // A failed spawn must not crash the test process through an unhandled 'error'.
    child.on("error", () => undefined);
    return child;
  }

  output(child: ChildProcess): { stdout: string; stderr: string } {
    const t = this.tracked.get(child);
    return { stdout: t?.stdout ?? "", stderr: t?.stderr ?? "" };
  }

  run(name: string, cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
    const { timeoutMs = 15_000, input, ...spawnOpts } = opts;
    const child = this.exec(name, cmd, args, { ...spawnOpts, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        signal(child.pid!, "SIGKILL", true);
      }, timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("close", (code, sig) => {
        clearTimeout(timer);
        const { stdout, stderr } = this.output(child);
        this.tracked.delete(child);
        resolve({ code, signal: sig, stdout, stderr, timedOut });
      });
      if (input !== undefined) child.stdin!.end(input);
    });
  }

  async cutLink(name: string): Promise<void> {
    this.host(name);
    await ipBatch([`link set ${this.ports.get(name)} down`], { ns: this.bridge.ns });
  }

  async restoreLink(name: string): Promise<void> {
    this.host(name);
    await ipBatch([`link set ${this.ports.get(name)} up`], { ns: this.bridge.ns });
  }

  private running(): ChildProcess[] {
    return [...this.tracked.keys()].filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
  }

  pids(): number[] {
    return this.running().map((c) => c.pid!);
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async strays(): Promise<number[]> {
    return (await Promise.all(this.namespaces.map((ns) => namespacePids(ns)))).flat();
  }

  private async teardown(): Promise<void> {
    try {
      for (const c of this.running()) signal(c.pid!, "SIGTERM", true);
      for (const pid of await this.strays()) signal(pid, "SIGTERM", false);
      const deadline = Date.now() + this.graceMs;
      while (Date.now() < deadline && (this.running().length > 0 || (await this.strays()).length > 0)) await sleep(25);
      for (const c of this.running()) signal(c.pid!, "SIGKILL", true);
      for (const pid of await this.strays()) signal(pid, "SIGKILL", false);
      const killDeadline = Date.now() + 2000;
      while (Date.now() < killDeadline && (this.running().length > 0 || (await this.strays()).length > 0)) await sleep(25);
    } finally {
      // Hosts first, then the bridge; -force goes on past a namespace that is already gone.
      await ipBatch(this.teardownLines(), { force: true });
      unlockSubnet(this.lockFile);
      live.delete(this);
    }
  }

  /** For the process 'exit' hook: no waiting, SIGKILL everything, delete the namespaces. */
  destroySync(): void {
    for (const c of this.running()) signal(c.pid!, "SIGKILL", true);
    for (const ns of this.namespaces) for (const pid of namespacePidsSync(ns)) signal(pid, "SIGKILL", false);
    ipBatchSync(this.teardownLines());
    unlockSubnet(this.lockFile);
    live.delete(this);
  }

  private teardownLines(): string[] {
    // The local veth would go with the bridge's namespace (a veth dies with its peer); deleting it first is tidier.
    return [...(this.localIface ? [`link del ${this.localIface}`] : []), ...[...this.namespaces].reverse().map((ns) => `netns del ${ns}`)];
  }
}

/**
 * Creates one namespace per name, joined on one segment: host i (from 0) gets
 * 10.213.K.(i+1). Throws (after removing whatever it had made) when the
 * network cannot be built; check netnsAvailable() first to skip instead.
 */
export async function createNetwork(names: readonly string[], opts: NetworkOptions = {}): Promise<Network> {
  if (names.length === 0) throw new Error("createNetwork needs at least one host name");
  if (names.length > 250) throw new Error("createNetwork: at most 250 hosts");
  const seen = new Set<string>();
  for (const n of names) {
    if (!HOST_NAME.test(n)) throw new Error(`host name "${n}" must be 1-32 letters, digits, '_' or '-', starting with a letter or digit`);
    if (seen.has(n)) throw new Error(`host name "${n}" given twice`);
    seen.add(n);
  }
  await sweepStale().catch(() => undefined);
  const net = new NetworkImpl(names, opts);
  installExitHook();
  live.add(net);
  // (the subnet lock is released by destroy(), which the failure path below runs)
  try {
    await net.setUp();
  } catch (err) {
    await net.destroy();
    throw err;
  }
  return net;
}
